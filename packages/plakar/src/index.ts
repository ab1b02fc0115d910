/**
 * @poolp/plakar for library users: open a store by location, create or open a Repository
 * on it, and do with snapshots what the commands do (push: archive; ls, cat: TreeReader,
 * walk; pull: Restorer; diff: diffDirs; find: NameFinder), with errors that carry a stable
 * code. Everything else is a subpath, for the CLI and for code that works on one layer:
 * `@poolp/plakar/cli`, `/storage`, `/repository`, `/snapshot`, `/maintenance`, and `/testing`
 * (fixtures).
 */
export {
  isPlakarError,
  MaintenanceError,
  type MaintenanceErrorCode,
  PlakarError,
  type PlakarErrorCode,
  RepositoryError,
  type RepositoryErrorCode,
  SnapshotError,
  type SnapshotErrorCode,
  StorageError,
  type StorageErrorCode,
  TransferError,
  type TransferErrorCode,
} from './errors.js'
export { type CreateOptions, type OpenOptions, Repository } from './repository/index.js'
export {
  type ArchiveOptions,
  ArchiveProgress,
  archive,
  type Change,
  diffDirs,
  type Entry,
  type EntryKind,
  encodeHeader,
  FileCache,
  type Located,
  listHeaders,
  loadHeader,
  locate,
  type Match,
  NameFinder,
  type RestoreOptions,
  RestoreProgress,
  Restorer,
  resolveSnapshot,
  type SnapshotCounts,
  type SnapshotErrorRecord,
  type SnapshotHeader,
  TreeReader,
  walk,
} from './snapshot/index.js'
export { defaultLocation, openStore, type Store } from './storage/index.js'
