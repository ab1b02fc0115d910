/**
 * The repository layer: blobs, packs and indexes over a Store.
 *
 * - Repository: a configured, opened repository (config, keys, local cache); reads blobs
 *   and snapshot objects, lists snapshots, hands out writers.
 * - SealedBatch: blobs read out of packs in one go (Repository.fetchBlobs), opened on this
 *   thread or on a worker of a BlobPool (Repository.blobPool): the one read path.
 * - RepositoryMaintenance: what check, prune and repair may do (Repository.maintenance).
 * - RepositoryObjects: its objects as stored, each verifiable, for a clone (Repository.objects).
 * - BlobWriter: the one write path. Puts bytes (tree blobs) and sources a layer above
 *   opens (Source: the snapshot layer's files), chunked, named, deduplicated, compressed and
 *   encrypted on worker threads, into packs, then publishes index objects.
 * - LocalCache: the SQLite file that holds the union of the index objects seen.
 * The on-disk format is docs/plakar-format.md.
 */

export type { IndexedPack } from '../format/index.js'
export type { BlobPool, BlobPoolOptions, WorkerEntry } from './blob-pool.js'
export type { Consumed, OpenedBatch } from './blob-pool-worker.js'
export type { BlobWriter, WriterOptions } from './blob-writer.js'
export { defaultCacheDir, LocalCache } from './cache.js'
export { DEFAULT_CHUNKING, DEFAULT_PACK_SIZE, FORMAT_VERSION } from './config.js'
export { INDEX_BLOBS, INDEX_PACKS } from './limits.js'
export { type Lock, type LockInfo, type LockKind, REFRESH_MS, STALE_MS } from './locks.js'
export type { RepositoryMaintenance } from './maintenance.js'
export { COPIED_KINDS, type CopiedKind, type RepositoryObjects } from './objects.js'
export type { PackerStats } from './packer.js'
export { defaultCpus, type FileResult } from './pipeline.js'
export { type RebuildResult, readPackEntries } from './rebuild.js'
export { type CreateOptions, type OpenOptions, Repository, type WriteLock } from './repository.js'
export type { LocatedBlob, SealedBatch } from './sealed-batch.js'
export type { Source, SourceReader, SourceSpec, SourceTask } from './source.js'
export type { BlobId, BlobLocation, BlobType, PutResult, RepositoryConfig } from './types.js'
