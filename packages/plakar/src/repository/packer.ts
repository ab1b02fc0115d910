import { type Envelope, encodeIndex, finishPack, type IndexedPack, type PackEntry } from '../format/index.js'
import type { Store } from '../storage/store.js'
import type { LocalCache } from './cache.js'
import { INDEX_BLOBS } from './limits.js'
import type { BlobType } from './types.js'

/**
 * Gathers sealed blobs into packs and publishes them, in the main thread of one writer.
 *
 * CONTRACT
 * - add() appends a sealed blob to the open pack; when the pack reaches `packSize` it is put
 *   to the store in the background (at most the store's `largePuts` at once; `writable()` waits for room,
 *   which is how the pipeline feels the storage's speed).
 * - Index objects are written only after every pack they name is durable; once one is
 *   written its entries go to the local cache and leave memory. One is written at every
 *   flush(), and on the way every INDEX_EVERY packs or INDEX_BLOBS blobs, whichever comes
 *   first, so that neither the writer's memory nor any reader's (an index object is read
 *   whole) grows with a backup: packs of tiny blobs hold tens of thousands each.
 * - `has(id)` covers blobs of this writer not yet in the cache (open pack, packs in flight,
 *   packs durable but not yet indexed), so this writer never stores a blob twice.
 * - The first storage failure is kept and thrown by every later writable()/flush().
 */
// The store says how many pack puts to keep in flight while the next pack fills (largePuts):
// every pack in flight is a buffer held, and the peak memory of a backup is what users see
// first, so local media say 1; a store behind a round trip says more.
const INDEX_EVERY = 32

export interface PackerStats {
  packs: number
  indexes: number
  blobs: number
  bytes: number
}

export class Packer {
  /** The open pack: sealed blobs are copied in on arrival, so their sources can be freed. */
  private buffer: Buffer | null = null
  /** Pack buffers whose put completed, for the next packs (memory churn and peak RSS). */
  private readonly spare: Buffer[] = []
  private entries: PackEntry[] = []
  private size = 0
  private readonly pending = new Set<string>()
  private durable: IndexedPack[] = []
  private durableBlobs = 0
  private readonly puts = new Set<Promise<void>>()
  private indexing: Promise<void> = Promise.resolve()
  private failure: unknown = undefined
  readonly stats: PackerStats = { packs: 0, indexes: 0, blobs: 0, bytes: 0 }
  private readonly maxPuts: number

  constructor(
    private readonly store: Store,
    private readonly envelope: Envelope,
    private readonly cache: LocalCache,
    private readonly packSize: number,
    private readonly beforeIndex?: () => Promise<void>,
  ) {
    this.maxPuts = Math.max(1, Math.floor(store.largePuts))
    // Room for the pack header after the blobs (a bigger header is joined by a copy).
    this.bufferSize = packSize + Math.max(64 << 10, packSize >> 4)
  }

  private readonly bufferSize: number

  has(hex: string): boolean {
    return this.pending.has(hex)
  }

  add(type: BlobType, id: Uint8Array, hex: string, sealed: Uint8Array, rawLength: number): void {
    // Cut before a blob that would overflow the pack: packs stay within packSize (unless one
    // blob alone is bigger) and their buffers can be reused at a fixed size.
    if (this.size > 0 && this.size + sealed.length > this.packSize) this.cut()
    this.pending.add(hex)
    this.entries.push({ type, id, offset: this.size, length: sealed.length, rawLength })
    this.buffer ??= this.spare.pop() ?? Buffer.allocUnsafe(this.bufferSize)
    if (this.size + sealed.length > this.buffer.length) {
      const grown = Buffer.allocUnsafe(this.size + sealed.length + (this.bufferSize - this.packSize))
      this.buffer.copy(grown, 0, 0, this.size)
      this.buffer = grown
    }
    this.buffer.set(sealed, this.size)
    this.size += sealed.length
    this.stats.blobs++
    this.stats.bytes += sealed.length
    if (this.size >= this.packSize) this.cut()
  }

  /** Resolves when another pack may be started; rejects with the first storage failure. */
  async writable(): Promise<void> {
    while (this.puts.size >= this.maxPuts && this.failure === undefined) await Promise.race(this.puts)
    if (this.failure !== undefined) throw this.failure
  }

  /** Publishes everything added so far: the open pack, then an index object naming it all. */
  async flush(): Promise<void> {
    this.cut()
    while (this.puts.size > 0) await Promise.race(this.puts)
    if (this.failure !== undefined) throw this.failure
    this.scheduleIndex()
    await this.indexing
    if (this.failure !== undefined) throw this.failure
  }

  private cut(): void {
    if (this.entries.length === 0 || !this.buffer) return
    const own = this.buffer
    const pack = finishPack(this.envelope, own, this.size, this.entries)
    const inPlace = pack.bytes.buffer === own.buffer
    const reusable = own.length === this.bufferSize
    if (!inPlace && reusable) this.spare.push(own)
    const entries = this.entries
    this.buffer = null
    this.entries = []
    this.size = 0
    const put = this.store.put('pack', pack.name, pack.bytes).then(
      () => {
        // Durable: the store keeps no reference to what it was given, so reuse the buffer.
        if (inPlace && reusable && this.spare.length < this.maxPuts) this.spare.push(own)
        this.stats.packs++
        this.durable.push({ pack: pack.name, entries })
        this.durableBlobs += entries.length
        if (this.durable.length >= INDEX_EVERY || this.durableBlobs >= INDEX_BLOBS) this.scheduleIndex()
      },
      (err) => {
        this.failure ??= err
      },
    )
    const tracked = put.finally(() => this.puts.delete(tracked))
    this.puts.add(tracked)
  }

  private scheduleIndex(): void {
    if (this.durable.length === 0) return
    const packs = this.durable
    this.durable = []
    this.durableBlobs = 0
    this.indexing = this.indexing.then(async () => {
      if (this.failure !== undefined) return
      try {
        await this.beforeIndex?.()
        const index = encodeIndex(this.envelope, packs)
        await this.store.put('index', index.name, index.bytes)
        this.cache.addIndex(index.name, packs)
        this.stats.indexes++
        for (const p of packs)
          for (const e of p.entries) this.pending.delete(Buffer.from(e.id).toString('hex'))
      } catch (err) {
        this.failure ??= err
      }
    })
  }
}
