import type { Worker } from 'node:worker_threads'
import { startWorker } from '../platform/worker.js'
import type { BlobOpenerSpec } from './blob-opener.js'
import {
  BLOB_POOL_VERSION,
  type BlobPoolInit,
  type BlobPoolReply,
  type BlobPoolRequest,
} from './blob-pool-protocol.js'
import type { SealedBatch } from './sealed-batch.js'

/**
 * The repository's worker threads that open blobs: the read path off the main thread. Each
 * worker runs a worker entry that calls serveBlobPool (blob-pool-worker.ts) with a consumer:
 * the repository's own blob-worker.ts hands the contents back (Repository.loadBlobs); the
 * restore's writes them into files where they are opened, so a restore's blobs cross threads
 * once, sealed, and never come back.
 *
 * CONTRACT
 * - post(w, batch, payload) sends the batch to worker w (0 <= w < size), detaching its ranges,
 *   and resolves with the consumer's reply; requests to one worker are answered in order.
 * - A consumer that threw rejects its post with an Error carrying the worker's stack (a bug).
 *   A worker that dies rejects every post in flight and later ones, and calls onFailure once.
 * - An idle pool does not keep the process alive; close() terminates the workers.
 */
export interface WorkerEntry {
  /** The entry's file name in dist/ (a tsup entry of that name). */
  readonly name: string
  /** Its TypeScript source, for runs from src/ (see platform/worker.ts). */
  readonly source: URL
}

export interface BlobPoolOptions<I> {
  readonly entry: WorkerEntry
  readonly workers: number
  /** The consumer's setup value (structured clone). */
  readonly init: I
  /** Cap on each worker's v8 young generation (MiB): they allocate short-lived buffers only. */
  readonly youngGenerationMb?: number
  /** A worker failed (an exception outside a consumer, or exit): the pool is broken. */
  readonly onFailure?: (err: Error) => void
}

interface Pending {
  resolve(reply: unknown): void
  reject(err: unknown): void
}

interface Slot {
  readonly worker: Worker
  readonly pending: Map<number, Pending>
}

export class BlobPool<P = unknown, R = unknown> {
  private readonly slots: Slot[] = []
  private nextSeq = 1
  private failure: Error | null = null
  private closed = false

  /** Repository.blobPool makes these: the opener is the repository's. */
  constructor(opener: BlobOpenerSpec, opts: BlobPoolOptions<unknown>) {
    const workerData: BlobPoolInit = { version: BLOB_POOL_VERSION, opener, init: opts.init }
    const young = opts.youngGenerationMb
    for (let i = 0; i < Math.max(1, Math.floor(opts.workers)); i++) {
      const worker = startWorker(opts.entry.name, opts.entry.source, {
        workerData,
        ...(young !== undefined ? { resourceLimits: { maxYoungGenerationSizeMb: young } } : {}),
      })
      worker.unref()
      const slot: Slot = { worker, pending: new Map() }
      worker.on('message', (msg: BlobPoolReply) => this.onReply(slot, msg))
      worker.on('error', (err) => this.fail(err, opts.onFailure))
      worker.on('exit', () => {
        if (!this.closed) this.fail(new Error('blob pool worker exited'), opts.onFailure)
      })
      this.slots.push(slot)
    }
  }

  get size(): number {
    return this.slots.length
  }

  post(w: number, batch: SealedBatch, payload: P, transfer: readonly ArrayBuffer[] = []): Promise<R> {
    if (this.failure !== null) return Promise.reject(this.failure)
    if (this.closed) return Promise.reject(new Error('blob pool is closed'))
    const slot = this.slots[w]
    if (slot === undefined) throw new RangeError(`no worker ${w} in a pool of ${this.slots.length}`)
    const seq = this.nextSeq++
    const { data, transfer: ranges } = batch.detach()
    const req: BlobPoolRequest<P> = { seq, batch: data, payload }
    return new Promise<R>((resolve, reject) => {
      slot.pending.set(seq, { resolve: resolve as (r: unknown) => void, reject })
      if (slot.pending.size === 1) slot.worker.ref()
      slot.worker.postMessage(req, [...ranges, ...transfer])
    })
  }

  async close(): Promise<void> {
    this.closed = true
    const workers = this.slots.map((s) => s.worker)
    await Promise.all(workers.map((w) => w.terminate()))
  }

  private onReply(slot: Slot, msg: BlobPoolReply): void {
    const p = slot.pending.get(msg.seq)
    if (p === undefined) return
    slot.pending.delete(msg.seq)
    if (slot.pending.size === 0) slot.worker.unref()
    if (msg.bug !== null) p.reject(new Error(`blob pool worker: ${msg.bug}`))
    else p.resolve(msg.reply)
  }

  private fail(err: Error, onFailure: ((err: Error) => void) | undefined): void {
    if (this.failure !== null) return
    this.failure = err
    for (const s of this.slots) {
      for (const p of s.pending.values()) p.reject(err)
      s.pending.clear()
    }
    onFailure?.(err)
  }
}
