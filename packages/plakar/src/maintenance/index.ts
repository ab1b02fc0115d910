/**
 * Maintenance over a repository: choosing snapshots to remove (filters, retention policies)
 * and removing them; later check, prune and repair. It stands on the repository's
 * maintenance access (Repository.maintenance()) and the snapshot layer, never around them.
 */
export { removeSnapshots, type SnapshotRemover } from './remove.js'
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
