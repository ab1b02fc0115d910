import { RepositoryError } from '../errors.js'
import type { BlobOpenerSpec } from './blob-opener.js'
import { BlobPool } from './blob-pool.js'
import type { ContentsReply } from './blob-pool-protocol.js'
import { type OpenBlob, sealedOf } from './sealed-batch.js'
import type { BlobType } from './types.js'

/**
 * Opens (decrypts, decompresses, verifies) blobs for getBlob, off the main thread when there
 * is enough to do: requests made in the same turn of the event loop are batched, and a batch
 * of at least BATCH_MIN blobs or BATCH_MIN_BYTES goes to the repository's blob worker
 * (blob-worker.ts, a BlobPool of one, started on first need), so a reader's own work and its
 * blob decoding run on two cores. Smaller batches (browsing a snapshot, one tree blob at a
 * time) are opened right here, without the hop.
 *
 * CONTRACT: resolves with the verified content, or rejects with REPO_CORRUPT naming the blob,
 * exactly as Envelope.openBlob would; results come back in request order per batch.
 */
const BATCH_MIN = 4
const BATCH_MIN_BYTES = 256 << 10
const BATCH_MAX_BYTES = 1 << 20
const MAX_INFLIGHT_BYTES = 4 << 20

const BLOB_WORKER = { name: 'blob-worker', source: new URL('./blob-worker.ts', import.meta.url) }

interface Item {
  readonly type: BlobType
  readonly id: Uint8Array
  readonly sealed: Uint8Array
  resolve(raw: Uint8Array): void
  reject(err: unknown): void
}

export class Decoder {
  private queue: Item[] = []
  private queued = 0
  private scheduled = false
  private pool: BlobPool<null, ContentsReply> | null = null
  private broken = false
  private inflightBytes = 0

  constructor(
    private readonly open: OpenBlob,
    private readonly spec: BlobOpenerSpec,
    /** 0 = always decode in the calling thread */
    private readonly workers: number,
  ) {}

  decode(type: BlobType, id: Uint8Array, sealed: Uint8Array): Promise<Uint8Array> {
    if (this.workers === 0 || this.broken) return Promise.resolve().then(() => this.open(type, id, sealed))
    return new Promise((resolve, reject) => {
      this.queue.push({ type, id, sealed, resolve, reject })
      this.queued += sealed.length
      if (this.queued >= BATCH_MAX_BYTES) this.flush()
      else if (!this.scheduled) {
        this.scheduled = true
        setImmediate(() => this.flush())
      }
    })
  }

  async close(): Promise<void> {
    const pool = this.pool
    this.pool = null
    this.broken = true
    if (pool) await pool.close()
  }

  private flush(): void {
    this.scheduled = false
    // Bounded work in flight: later requests wait in the queue (and batch up meanwhile).
    if (this.inflightBytes >= MAX_INFLIGHT_BYTES && !this.broken) return
    // One batch of at most BATCH_MAX_BYTES (or one blob); the rest waits for the next flush.
    let take = 0
    let bytes = 0
    while (
      take < this.queue.length &&
      (take === 0 || bytes + this.queue[take]!.sealed.length <= BATCH_MAX_BYTES)
    )
      bytes += this.queue[take++]!.sealed.length
    const items = this.queue.splice(0, take)
    this.queued -= bytes
    if (this.queue.length > 0 && !this.scheduled) {
      this.scheduled = true
      setImmediate(() => this.flush())
    }
    if (items.length === 0) return
    if (this.broken || (items.length < BATCH_MIN && bytes < BATCH_MIN_BYTES)) {
      for (const it of items) this.local(it)
      return
    }
    this.pool ??= new BlobPool<null, ContentsReply>(this.spec, {
      entry: BLOB_WORKER,
      workers: 1,
      init: null,
      onFailure: () => {
        this.broken = true
      },
    })
    this.inflightBytes += bytes
    this.pool.post(0, sealedOf(items, this.open), null).then(
      (reply) => {
        this.inflightBytes -= bytes
        let at = 0
        items.forEach((it, k) => {
          const len = reply.lengths[k]!
          if (len < 0) it.reject(new RepositoryError('REPO_CORRUPT', reply.errors[k] ?? 'blob damaged'))
          else {
            it.resolve(new Uint8Array(reply.data, at, len))
            at += len
          }
        })
        if (this.queue.length > 0 && !this.scheduled) this.flush()
      },
      // A worker that failed is a bug; the blobs in flight are opened here instead.
      () => {
        this.inflightBytes -= bytes
        this.broken = true
        for (const it of items) this.local(it)
        for (const it of this.queue.splice(0)) this.local(it)
        this.queued = 0
      },
    )
  }

  private local(it: Item): void {
    try {
      it.resolve(this.open(it.type, it.id, it.sealed))
    } catch (err) {
      it.reject(err)
    }
  }
}
