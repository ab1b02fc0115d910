/**
 * Transfer: copying between repositories in any two stores.
 *
 * - clone: an exact replica (same config, keys and objects), resumable, every object
 *   verified before it is written (clone.ts).
 * - sync: snapshots copied between two different repositories, keeping their identity,
 *   re-sealed for the peer, reading only what the peer's copies of earlier ones lack (sync.ts).
 */
export { type CloneOptions, type CloneReport, clone } from './clone.js'
export { TransferProgress } from './progress.js'
export { type SyncOptions, type SyncReport, sync } from './sync.js'
