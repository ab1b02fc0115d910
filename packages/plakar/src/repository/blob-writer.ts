import { RepositoryError } from '../errors.js'
import type { Envelope } from '../format/index.js'
import type { Store } from '../storage/store.js'
import type { LocalCache } from './cache.js'
import { Packer, type PackerStats } from './packer.js'
import { defaultCpus, type FileResult, Pipeline } from './pipeline.js'
import { PROTOCOL_VERSION } from './pipeline-protocol.js'
import type { BlobId, BlobType, PutResult, RepositoryConfig } from './types.js'

/**
 * A file for the writer to read, in a worker, from offset 0 to end of file (so a file that
 * changes while read is stored as read; the result's `size` says how much). With `fd` the
 * worker reads the caller's open descriptor with explicit positions (its file offset is not
 * used) and never closes it: the caller closes it once putFile has settled. Without `fd`
 * the worker opens `path` itself (string, or bytes for names that are not UTF-8). `size`
 * is the caller's lstat size, a hint used to batch small files; it is not trusted.
 */
export interface ReadableFile {
  readonly fd?: number
  readonly path: string | Buffer
  readonly size?: number
  /**
   * Without `fd`: the device and inode the caller saw (lstat). The file is opened without
   * following a symlink and rejected (REPO_SOURCE_UNREADABLE, cause code EREPLACED) when it
   * is not that regular file any more.
   */
  readonly expect?: { readonly dev: number; readonly ino: number }
  /** Also read the file's extended attributes (FileResult.xattrs). */
  readonly xattrs?: boolean
}

export interface WriterOptions {
  /** Worker threads for chunking, hashing, compression and encryption (default: CPUs - 1, min 1). */
  readonly cpus?: number
}

/**
 * CONTRACT (see also types.ts)
 * - putFile resolves when every chunk of the file is named and handed to a pack (stored or
 *   deduplicated); it rejects with REPO_SOURCE_UNREADABLE when the file cannot be opened or
 *   read, and the writer goes on. Callers keep many putFile calls in flight (a few hundred
 *   small files, or a few big ones) so small files are batched and the workers stay busy;
 *   the writer queues paths only, and bounds the bytes in flight itself.
 * - flush() waits for the files in flight, then writes the open pack and an index object.
 * - close() flushes and stops the workers; the writer is unusable afterwards.
 */
export interface BlobWriter {
  putFile(source: ReadableFile): Promise<FileResult>
  putBlob(type: BlobType, data: Uint8Array): Promise<PutResult>
  flush(): Promise<void>
  close(): Promise<void>
  readonly stats: PackerStats
}

interface WriterContext {
  readonly store: Store
  readonly config: RepositoryConfig
  readonly envelope: Envelope
  readonly cache: LocalCache
  readonly keys: { readonly data: Uint8Array | null; readonly id: Uint8Array | null }
}

export class RepositoryBlobWriter implements BlobWriter {
  private readonly packer: Packer
  private pipeline: Pipeline | null = null
  private closed = false

  constructor(
    private readonly ctx: WriterContext,
    private readonly opts: WriterOptions = {},
  ) {
    this.packer = new Packer(ctx.store, ctx.envelope, ctx.cache, ctx.config.packSize)
  }

  get stats(): PackerStats {
    return this.packer.stats
  }

  putFile(source: ReadableFile): Promise<FileResult> {
    if (this.closed) return Promise.reject(new RepositoryError('REPO_USAGE', 'writer is closed'))
    this.pipeline ??= this.startPipeline()
    const hint =
      source.size !== undefined && Number.isSafeInteger(source.size) && source.size >= 0
        ? source.size
        : undefined
    return this.pipeline.submit(
      {
        fd: source.fd ?? null,
        path: source.path,
        size: hint,
        ...(source.expect ? { expect: source.expect } : {}),
        ...(source.xattrs ? { xattrs: true } : {}),
      },
      hint,
    )
  }

  async putBlob(type: BlobType, data: Uint8Array): Promise<PutResult> {
    if (this.closed) throw new RepositoryError('REPO_USAGE', 'writer is closed')
    const id = this.ctx.envelope.blobId(data)
    const hex = id.toString('hex')
    if (this.known(id, hex)) return { id, stored: false, packedSize: 0 }
    await this.packer.writable()
    if (this.known(id, hex)) return { id, stored: false, packedSize: 0 }
    const sealed = this.ctx.envelope.sealBlob(type, id, data)
    this.packer.add(type, id, hex, sealed, data.length)
    return { id, stored: true, packedSize: sealed.length }
  }

  async flush(): Promise<void> {
    if (this.pipeline) await this.pipeline.idle()
    await this.packer.flush()
  }

  async close(): Promise<void> {
    if (this.closed) return
    try {
      await this.flush()
    } finally {
      this.closed = true
      await this.pipeline?.close()
    }
  }

  private known(id: BlobId, hex: string): boolean {
    return this.packer.has(hex) || this.ctx.cache.hasBlob(id)
  }

  private startPipeline(): Pipeline {
    const { config, keys, cache } = this.ctx
    const cpus = Math.max(1, Math.floor(this.opts.cpus ?? defaultCpus()))
    return new Pipeline(
      cpus,
      {
        version: PROTOCOL_VERSION,
        dataKey: keys.data,
        idKey: keys.id,
        compression: config.compression,
        chunking: config.chunking,
        cacheFile: cache.path,
      },
      (id, sealed, rawLength) => {
        // The worker found it in the index: nothing to store.
        if (sealed === null) return 0
        const hex = id.toString('hex')
        if (this.packer.has(hex)) return 0
        this.packer.add('data', id, hex, sealed, rawLength)
        return sealed.length
      },
      () => this.packer.writable(),
    )
  }
}
