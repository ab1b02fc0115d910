/**
 * The snapshot layer: what a backup is, above the repository's blobs.
 *
 * - A snapshot is a header (SnapshotHeader) stored under its UUID, naming a root Entry.
 * - An Entry is one name with its metadata; a directory entry names a directory blob
 *   (a `tree` blob, paged when large), a file entry its chunk ids.
 * - The archiver walks the filesystem into a snapshot; the restorer writes one back safely;
 *   TreeReader browses and looks up paths loading only what is on their way.
 * The format is written down in docs/plakar-snapshot-format.md.
 */
export { type ArchiveOptions, ArchiveProgress, archive } from './archiver.js'
export { type Change, diffDirs, sameEntry } from './diff.js'
export { type Content, ENTRY_KINDS, type Entry, type EntryKind, isSafeName } from './entry.js'
export { Excludes } from './exclude.js'
export { type CachedFile, FileCache, stamp } from './file-cache.js'
export { FILE_SOURCE, FileReader, fileXattrs, type ReadableFile } from './file-source.js'
export { type Match, NameFinder } from './find.js'
export {
  decodeHeader,
  encodeHeader,
  SNAPSHOT_VERSION,
  type SnapshotCounts,
  type SnapshotErrorRecord,
  type SnapshotHeader,
} from './header.js'
export type { RestoreRepository, SnapshotBlobWriter, SnapshotRepository } from './repository-view.js'
export { type RestoreOptions, RestoreProgress, Restorer } from './restorer.js'
export {
  type Located,
  listHeaders,
  loadHeader,
  locate,
  normalizePath,
  parseRef,
  resolveSnapshot,
} from './snapshots.js'
export { DirWriter, makeContent, TREE_VERSION, TreeReader } from './tree.js'
export { forEachUsedBlob, type UsedBlobOptions } from './used.js'
export { joinPath, walk } from './walk.js'
