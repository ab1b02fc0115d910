import type { Worker } from 'node:worker_threads'
import { RepositoryError } from '../errors.js'
import { blobTypeCode, type Envelope } from '../format/index.js'
import type { DecodeReply, DecodeRequest, WorkerInit } from './pipeline-protocol.js'
import type { BlobType } from './types.js'
import { startPipelineWorker } from './worker-entry.js'

/**
 * Opens (decrypts, decompresses, verifies) blobs for getBlob, off the main thread when there
 * is enough to do: requests made in the same turn of the event loop are batched, and a batch
 * of at least BATCH_MIN blobs or BATCH_MIN_BYTES goes to a worker thread (started on first
 * need), so a restore's file writing and its blob decoding run on two cores. Smaller batches
 * (browsing a snapshot, one tree blob at a time) are opened right here, without the hop.
 *
 * CONTRACT: resolves with the verified content, or rejects with REPO_CORRUPT naming the blob,
 * exactly as Envelope.openBlob would; results come back in request order per batch.
 */
const BATCH_MIN = 4
const BATCH_MIN_BYTES = 256 << 10
const BATCH_MAX_BYTES = 1 << 20
const MAX_INFLIGHT_BYTES = 4 << 20

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
  private worker: Worker | null = null
  private broken = false
  private readonly inflight = new Map<number, Item[]>()
  private readonly batchBytes = new Map<number, number>()
  private inflightBytes = 0
  private nextBatch = 1

  constructor(
    private readonly envelope: Envelope,
    private readonly init: Omit<WorkerInit, 'credits' | 'slots'>,
    /** 0 = always decode in the calling thread */
    private readonly workers: number,
  ) {}

  decode(type: BlobType, id: Uint8Array, sealed: Uint8Array): Promise<Uint8Array> {
    if (this.workers === 0 || this.broken)
      return Promise.resolve().then(() => this.envelope.openBlob(type, id, sealed))
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
    const w = this.worker
    this.worker = null
    this.broken = true
    if (w) await w.terminate()
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
    const worker = this.start()
    const n = items.length
    const types = new Uint8Array(n)
    const ids = new Uint8Array(32 * n)
    const lengths = new Uint32Array(n)
    const data = new Uint8Array(bytes)
    let at = 0
    items.forEach((it, k) => {
      types[k] = blobTypeCode(it.type)
      ids.set(it.id, 32 * k)
      lengths[k] = it.sealed.length
      data.set(it.sealed, at)
      at += it.sealed.length
    })
    const batch = this.nextBatch++
    this.inflight.set(batch, items)
    this.inflightBytes += bytes
    this.batchBytes.set(batch, bytes)
    if (this.inflight.size === 1) worker.ref()
    const req: DecodeRequest = { kind: 'decode', batch, types, ids, lengths, data: data.buffer }
    worker.postMessage(req, [types.buffer, ids.buffer, lengths.buffer, data.buffer])
  }

  private local(it: Item): void {
    try {
      it.resolve(this.envelope.openBlob(it.type, it.id, it.sealed))
    } catch (err) {
      it.reject(err)
    }
  }

  private start(): Worker {
    if (this.worker) return this.worker
    // Decoding only: no task runs here, so no slots.
    const worker = startPipelineWorker({
      workerData: { ...this.init, credits: new SharedArrayBuffer(4), slots: new SharedArrayBuffer(0) },
    })
    worker.unref()
    worker.on('message', (reply: DecodeReply) => this.onReply(reply))
    worker.on('error', (err) => this.fail(err))
    worker.on('exit', () => {
      if (this.worker === worker) this.fail(new Error('decode worker exited'))
    })
    this.worker = worker
    return worker
  }

  private onReply(reply: DecodeReply): void {
    const items = this.inflight.get(reply.batch)
    if (!items) return
    this.inflight.delete(reply.batch)
    this.inflightBytes -= this.batchBytes.get(reply.batch) ?? 0
    this.batchBytes.delete(reply.batch)
    if (this.inflight.size === 0) this.worker?.unref()
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
  }

  /** A worker that failed is a bug; the blobs in flight are opened here instead. */
  private fail(_err: unknown): void {
    this.broken = true
    this.worker = null
    const pending = [...this.inflight.values()].flat()
    this.inflight.clear()
    this.inflightBytes = 0
    for (const it of pending) this.local(it)
    for (const it of this.queue.splice(0)) this.local(it)
    this.queued = 0
  }
}
