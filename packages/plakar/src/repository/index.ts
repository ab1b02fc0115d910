/**
 * The repository layer: blobs, packs and indexes over a Store.
 *
 * - Repository: a configured, opened repository (config, keys, local cache); reads blobs
 *   and snapshot objects, lists snapshots, hands out writers.
 * - BlobWriter: puts files (chunked, named, deduplicated, compressed and encrypted on
 *   worker threads) and tree blobs into packs, then publishes index objects.
 * - LocalCache: the SQLite file that holds the union of the index objects seen.
 * The on-disk format is docs/plakar-format.md.
 */
export { type BlobOpener, type BlobOpenerSpec, blobOpener } from './blob-opener.js'
export type { BlobWriter, ReadableFile, WriterOptions } from './blob-writer.js'
export { defaultCacheDir, indexEpoch, LocalCache } from './cache.js'
export { DEFAULT_CHUNKING, DEFAULT_PACK_SIZE, FORMAT_VERSION } from './config.js'
export type { PackerStats } from './packer.js'
export { defaultCpus, type FileResult } from './pipeline.js'
export { type RebuildResult, readPackEntries } from './rebuild.js'
export { type CreateOptions, type OpenOptions, Repository } from './repository.js'
export type { BlobId, BlobLocation, BlobType, PutResult, RepositoryConfig } from './types.js'
