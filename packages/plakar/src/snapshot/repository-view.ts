import type {
  BlobId,
  BlobLocation,
  BlobPool,
  BlobPoolOptions,
  BlobType,
  FileResult,
  LocatedBlob,
  PutResult,
  SealedBatch,
  SourceSpec,
  WriteLock,
} from '../repository/index.js'
import type { ReadableFile } from './file-source.js'

export type { FileResult }

/**
 * What the snapshot layer needs from a repository, as a structural interface: the snapshot
 * code depends on this shape, not on one class. `Repository` (repository/) satisfies it.
 */

/** The repository's writer, for the archiver's files (file-source.ts). */
export interface SnapshotBlobWriter {
  putFile(source: ReadableFile): Promise<FileResult>
  putBlob(type: BlobType, data: Uint8Array): Promise<PutResult>
  flush(): Promise<void>
  close(): Promise<void>
}

export interface SnapshotRepository {
  readonly id: string
  writer(opts: {
    cpus?: number
    source: SourceSpec<ReadableFile>
    beforeIndex?: () => Promise<void>
  }): SnapshotBlobWriter
  /**
   * A writer's lock (Repository.lockForWrite), taken before anything is looked up and held
   * until the snapshot is committed: what keeps a prune beside it from deleting what it uses.
   */
  lockForWrite(): Promise<WriteLock>
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
 * What the restorer and cat need besides. A file's blobs streamed in order (readBlobs, for
 * cat). Batched reads: where each blob is (or the error getBlob would throw for it), in one
 * call for many blobs; then the repository's read path: a sealed batch of them (fetchBlobs)
 * opened on a worker of the repository's blob pool, where the restore's own code writes the
 * files (restore-worker.ts).
 */
export interface RestoreRepository extends SnapshotRepository {
  /** The contents of `ids` in order, a bounded window read ahead (Repository.readBlobs). */
  readBlobs(
    ids: Iterable<BlobId> | AsyncIterable<BlobId>,
    opts?: { readAhead?: number },
  ): AsyncGenerator<Uint8Array>
  locateBlobs(ids: readonly BlobId[]): Promise<(BlobLocation | Error)[]>
  fetchBlobs(blobs: readonly LocatedBlob[]): Promise<SealedBatch>
  blobPool<P, R>(opts: BlobPoolOptions<unknown>): BlobPool<P, R>
  /** A hint: much of the index is about to be looked up (the restore of a large tree). */
  warmIndex(): void
}
