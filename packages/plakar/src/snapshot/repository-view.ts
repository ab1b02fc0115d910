import type {
  BlobId,
  BlobLocation,
  BlobPool,
  BlobPoolOptions,
  BlobType,
  LocatedBlob,
  PutResult,
  SealedBatch,
} from '../repository/index.js'

/**
 * What the snapshot layer needs from a repository, as a structural interface: the snapshot
 * code depends on this shape, not on one class. `Repository` (repository/) satisfies it.
 */

/**
 * A regular file for BlobWriter.putFile, named by path and read by the writer (off the main
 * thread) from offset 0 to end of file, which may differ from `size` if the file changes
 * during the backup; the result says how much was read. The writer opens it without
 * following symlinks and rejects with REPO_SOURCE_UNREADABLE when it cannot: the cause's
 * `code` is the errno code (ENOENT: it vanished) or EREPLACED when the file opened is not
 * the regular file `expect` names (it was replaced since the caller's lstat).
 */
export interface ReadableFile {
  /** Bytes: names need not be UTF-8. */
  readonly path: Buffer
  readonly size: number
  readonly expect: { readonly dev: number; readonly ino: number }
  /** Read the extended attributes too (FileResult.xattrs). */
  readonly xattrs?: boolean
}

export interface FileResult {
  readonly chunks: BlobId[]
  readonly size: number
  readonly stored: number
  readonly xattrs?: readonly [Buffer, Buffer][]
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

/**
 * What the restorer needs besides: batched reads. Where each blob is (or the error getBlob
 * would throw for it), in one call for many blobs; then the repository's read path: a sealed
 * batch of them (fetchBlobs) opened on a worker of the repository's blob pool, where the
 * restore's own code writes the files (restore-worker.ts).
 */
export interface RestoreRepository extends SnapshotRepository {
  locateBlobs(ids: readonly BlobId[]): Promise<(BlobLocation | Error)[]>
  fetchBlobs(blobs: readonly LocatedBlob[]): Promise<SealedBatch>
  blobPool<P, R>(opts: BlobPoolOptions<unknown>): BlobPool<P, R>
  /** A hint: much of the index is about to be looked up (the restore of a large tree). */
  warmIndex(): void
}
