import { RepositoryError } from '../errors.js'
import type { Envelope } from '../format/index.js'
import type { Store } from '../storage/store.js'
import type { LocalCache } from './cache.js'
import { Packer, type PackerStats } from './packer.js'
import { defaultCpus, type FileResult, Pipeline } from './pipeline.js'
import { PROTOCOL_VERSION } from './pipeline-protocol.js'
import type { SourceSpec } from './source.js'
import type { BlobId, BlobType, PutResult, RepositoryConfig } from './types.js'

export interface WriterOptions<S = never> {
  /** Worker threads for chunking, hashing, compression and encryption (default: CPUs - 1, min 1). */
  readonly cpus?: number
  /** What putFile reads (source.ts): the snapshot layer's files. Without it, putFile fails. */
  readonly source?: SourceSpec<S>
  /**
   * Called before each index object is written; a rejection fails the writer (a writer's
   * lock that went stale, WriteLock.assertHeld: its index must not name packs a prune may
   * have taken for leftovers).
   */
  readonly beforeIndex?: () => Promise<void>
}

/**
 * The one write path: bytes in, blob ids out. putBlob takes bytes; putFile a source item that
 * the writer's SourceSpec reads (source.ts), cut into chunks on the pipeline's workers.
 *
 * CONTRACT (see also types.ts)
 * - putFile resolves when every chunk of the item is named and handed to a pack (stored or
 *   deduplicated); it rejects with REPO_SOURCE_UNREADABLE when the source cannot be opened or
 *   read, and the writer goes on. Callers keep many putFile calls in flight (a few hundred
 *   small files, or a few big ones) so small items are batched and the workers stay busy;
 *   the writer queues items only, and bounds the bytes in flight itself.
 * - flush() waits for the files in flight, then writes the open pack and an index object.
 * - close() flushes and stops the workers; the writer is unusable afterwards.
 */
export interface BlobWriter<S = never> {
  putFile(source: S): Promise<FileResult>
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

export class RepositoryBlobWriter<S> implements BlobWriter<S> {
  private readonly packer: Packer
  private pipeline: Pipeline | null = null
  private closed = false

  constructor(
    private readonly ctx: WriterContext,
    private readonly opts: WriterOptions<S> = {},
  ) {
    this.packer = new Packer(ctx.store, ctx.envelope, ctx.cache, ctx.config.packSize, opts.beforeIndex)
  }

  get stats(): PackerStats {
    return this.packer.stats
  }

  putFile(source: S): Promise<FileResult> {
    if (this.closed) return Promise.reject(new RepositoryError('REPO_USAGE', 'writer is closed'))
    const spec = this.opts.source
    if (spec === undefined)
      return Promise.reject(new RepositoryError('REPO_USAGE', 'this writer was made without a source'))
    this.pipeline ??= this.startPipeline(spec)
    return this.pipeline.submit(source)
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

  /**
   * A blob already sealed (copied out of another pack: sealed bytes do not depend on where
   * they lie), added as is unless the repository has it. The caller verified it.
   */
  async putSealed(type: BlobType, id: BlobId, sealed: Uint8Array, rawLength: number): Promise<PutResult> {
    if (this.closed) throw new RepositoryError('REPO_USAGE', 'writer is closed')
    const hex = Buffer.from(id).toString('hex')
    if (this.known(id, hex)) return { id, stored: false, packedSize: 0 }
    await this.packer.writable()
    if (this.known(id, hex)) return { id, stored: false, packedSize: 0 }
    this.packer.add(type, id, hex, sealed, rawLength)
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

  private startPipeline(source: SourceSpec<S>): Pipeline {
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
      source as SourceSpec<unknown>,
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
