/**
 * Transfer: copying between repositories in any two stores.
 *
 * - clone: an exact replica (same config, keys and objects), resumable, every object
 *   verified before it is written (clone.ts).
 */
export { type CloneOptions, CloneProgress, type CloneReport, clone } from './clone.js'
