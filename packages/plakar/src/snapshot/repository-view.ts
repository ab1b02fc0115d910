import type { BlobId, BlobType, PutResult } from '../repository/types.js'

/**
 * What the snapshot layer needs from a repository, as a structural interface so that the
 * snapshot code depends on the shape agreed in PLAKAR.md and not on one class.
 * `Repository` (repository/index.ts) satisfies it.
 */

/**
 * A regular file opened by the archiver, handed to BlobWriter.putFile. The writer reads
 * `fd` from offset 0 to end of file (which may differ from `size` if the file changes
 * during the backup) and reports the size it read. The archiver owns the fd: it closes it
 * once the promise returned by putFile has settled, never before.
 */
export interface ReadableFile {
  readonly fd: number
  /** The same file by name, bytes (names need not be UTF-8); for a reader that cannot use fd. */
  readonly path: Buffer
  readonly size: number
}

export interface FileResult {
  readonly chunks: BlobId[]
  readonly size: number
  readonly stored: number
}

export interface SnapshotBlobWriter {
  putFile(source: ReadableFile): Promise<FileResult>
  putBlob(type: BlobType, data: Uint8Array): Promise<PutResult>
  flush(): Promise<void>
  close(): Promise<void>
}

export interface SnapshotRepository {
  readonly id: string
  writer(opts?: { cpus?: number }): SnapshotBlobWriter
  getBlob(id: BlobId): Promise<Uint8Array>
  hasBlob(id: BlobId): Promise<boolean>
  /** The same answer as hasBlob without a promise, when the repository can give it (optional). */
  hasBlobSync?(id: BlobId): boolean
  /** True when every id is in the repository, in one batch, without a promise (optional). */
  hasBlobsSync?(ids: Iterable<BlobId>): boolean
  putSnapshot(uuid: string, data: Uint8Array): Promise<void>
  getSnapshot(uuid: string): Promise<Uint8Array>
  listSnapshots(): Promise<string[]>
}
