/**
 * Maintenance over a repository: choosing snapshots to remove (filters, retention policies)
 * and removing them; the integrity check; later prune and repair. It stands on the repository's
 * maintenance access (Repository.maintenance()) and the snapshot layer, never around them.
 */
export {
  type CheckOptions,
  type CheckProgress,
  type CheckReport,
  type CheckRepository,
  type CheckTarget,
  check,
  type DamagedBlob,
  type DamagedContent,
  type Loss,
  type Subset,
} from './check.js'
export {
  type PackCount,
  type PruneEvent,
  type PruneOptions,
  type PruneReport,
  type PruneRepository,
  prune,
} from './prune.js'
export { removeSnapshots, type SnapshotRemover } from './remove.js'
export { type RepairOptions, type RepairReport, type RepairRepository, repair } from './repair.js'
export {
  applyPolicy,
  before,
  type Decision,
  type Duration,
  GROUP_KEYS,
  type GroupKey,
  hasRule,
  matchesFilter,
  parseDuration,
  type RetentionPolicy,
  type SnapshotFacts,
  type SnapshotFilter,
} from './retention.js'
