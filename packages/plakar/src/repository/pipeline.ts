import { availableParallelism } from 'node:os'
import type { Worker } from 'node:worker_threads'
import { RepositoryError } from '../errors.js'
import { startWorker } from '../platform/worker.js'
import {
  type ChunksMessage,
  CREDITS,
  slotBytes,
  type TaskMessage,
  type WorkerInit,
} from './pipeline-protocol.js'
import { Sealer } from './sealer.js'
import type { SourceReader, SourceSpec } from './source.js'

/**
 * The main-thread side of the pipeline: a queue of files, batched into tasks for a bounded
 * set of workers (each holds at most TASKS_PER_WORKER tasks so it never idles between them),
 * and the chunks coming back, handed in file order to `consume`.
 * When every worker has its fill and files are waiting, the main thread seals the next
 * batch itself: the walk and the packing leave it idle about half of a backup, and with the
 * default of CPUs minus one workers that is the last core's share. Its batches are small
 * (LOCAL_BATCH_BYTES), or one big file sealed in steps with the event loop running between
 * them (Sealer's pause), so its event loop is never held for long.
 */
const TASKS_PER_WORKER = 2
/** Files up to this size (by the caller's hint) are batched; bigger ones go alone. */
const SMALL_FILE = 1 << 20
const BATCH_FILES = 64
const BATCH_BYTES = 8 << 20
/**
 * A batch the main thread seals is much smaller: while it runs, the workers' messages wait,
 * and a worker whose CREDITS slots are all waiting stops. With 8 MiB batches (~50 ms of
 * zstd) the worker spent ~3 s of a 7 s backup blocked on credits; at 256 KiB (~1.5 ms) both
 * threads stay busy and the warm 50k-file backup went from 6.7 s to 5.4 s (median of 4).
 */
const LOCAL_BATCH_BYTES = 256 << 10

export interface FileResult {
  readonly chunks: Uint8Array[]
  readonly size: number
  readonly stored: number
  /** What the source's close(true) returned (source.ts), when defined: a structured clone. */
  readonly meta?: unknown
  /**
   * SHA-256 of the whole content as the source gave it, independent of the chunking: what a
   * check compares a file's chunks against end to end.
   */
  readonly digest: Uint8Array
}

/** Called for every chunk in order; returns the bytes it stored (0 when deduplicated). */
export type Consume = (id: Buffer, sealed: Uint8Array | null, rawLength: number) => number

interface Job {
  readonly source: unknown
  /** for messages */
  readonly name: string
  readonly sizeHint: number | undefined
  readonly chunks: Uint8Array[]
  size: number
  stored: number
  meta?: unknown
  digest?: Uint8Array
  resolve(r: FileResult): void
  reject(e: unknown): void
}

interface Slot {
  /** null: the main thread's own sealer */
  readonly worker: Worker | null
  readonly credits: Int32Array | null
  tasks: number
}

interface Task {
  readonly slot: Slot
  readonly jobs: Job[]
  remaining: number
}

/** Workers a writer starts by default: one core is left to the main thread. */
export function defaultCpus(available: number = availableParallelism()): number {
  return Math.max(1, available - 1)
}

export class Pipeline {
  private readonly queue: Job[] = []
  private readonly slots: Slot[] = []
  private readonly tasks = new Map<number, Task>()
  private nextTask = 1
  private failure: unknown = undefined
  private dispatchScheduled = false
  private idleWaiters: (() => void)[] = []
  private active = 0
  private sealer: Sealer | null = null
  private readonly local: Slot = { worker: null, credits: null, tasks: 0 }
  /** This thread's reader: names and sizes items, and reads those the main thread seals. */
  private readonly reader: SourceReader<unknown>

  constructor(
    workers: number,
    private readonly init: Omit<WorkerInit, 'credits' | 'slots'>,
    source: SourceSpec<unknown>,
    private readonly consume: Consume,
    /** Resolves when the consumer can take more; rejects to fail the pipeline. */
    private readonly ready: () => Promise<void>,
  ) {
    this.reader = source.reader()
    for (let i = 0; i < workers; i++) {
      const sab = new SharedArrayBuffer(4)
      const credits = new Int32Array(sab)
      credits[0] = CREDITS
      const slots = new SharedArrayBuffer(CREDITS * slotBytes(init.chunking.max))
      const worker = startWorker(source.entry.name, source.entry.source, {
        workerData: { ...init, credits: sab, slots },
      })
      const slot: Slot = { worker, credits, tasks: 0 }
      worker.on('message', (msg: ChunksMessage) => this.onChunks(slot, msg))
      worker.on('error', (err) =>
        this.fail(new Error(`pipeline worker failed: ${err.message}`, { cause: err })),
      )
      worker.on('exit', (code) => {
        if (this.slots.includes(slot)) this.fail(new Error(`pipeline worker exited (${code})`))
      })
      worker.unref()
      this.slots.push(slot)
    }
  }

  submit(source: unknown): Promise<FileResult> {
    if (this.failure !== undefined) return Promise.reject(this.failure)
    const reader = this.reader
    const name = reader.name(source)
    const size = reader.size(source)
    // A hint only: it batches small items and is never trusted further.
    const sizeHint = size !== undefined && Number.isSafeInteger(size) && size >= 0 ? size : undefined
    return new Promise((resolve, reject) => {
      this.queue.push({ source, name, sizeHint, chunks: [], size: 0, stored: 0, resolve, reject })
      this.active++
      if (!this.dispatchScheduled) {
        this.dispatchScheduled = true
        // Let the caller's burst of submits land first, so small files share a task.
        setImmediate(() => {
          this.dispatchScheduled = false
          this.dispatch()
        })
      }
    })
  }

  /** Resolves once every submitted file has settled. */
  idle(): Promise<void> {
    if (this.active === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  async close(): Promise<void> {
    const slots = this.slots.splice(0)
    await Promise.all(slots.map((s) => s.worker!.terminate()))
    this.sealer?.close()
    this.sealer = null
    if (this.failure === undefined) this.fail(new RepositoryError('REPO_USAGE', 'writer closed'))
  }

  private dispatch(): void {
    for (;;) {
      if (this.queue.length === 0 || this.failure !== undefined) return
      let slot: Slot | undefined
      for (const s of this.slots) if (s.tasks < TASKS_PER_WORKER && (!slot || s.tasks < slot.tasks)) slot = s
      if (!slot) {
        this.dispatchLocal()
        return
      }
      const msg = this.task(slot, this.takeBatch())
      if (slot.tasks++ === 0) slot.worker!.ref()
      slot.worker!.postMessage(msg)
    }
  }

  private task(slot: Slot, jobs: Job[]): TaskMessage {
    const id = this.nextTask++
    this.tasks.set(id, { slot, jobs, remaining: jobs.length })
    let expected = 0
    for (const j of jobs) expected += j.sizeHint ?? Number.MAX_SAFE_INTEGER
    return { kind: 'task', task: id, files: jobs.map((j) => j.source), expected }
  }

  /** The next batch of small files, sealed on the main thread when it is idle (see above). */
  private dispatchLocal(): void {
    const head = this.queue[0]
    if (this.local.tasks > 0 || head === undefined || head.sizeHint === undefined) return
    this.local.tasks++
    const msg = this.task(this.local, this.takeBatch(LOCAL_BATCH_BYTES))
    // Later, not here: dispatch runs inside the handlers of the walk and of the workers'
    // messages, and the batch must not hold those up (nor run inside them).
    setImmediate(() => {
      if (this.failure !== undefined) return // closed or failed meanwhile: its jobs were rejected
      this.localSealer()
        .runTask(msg)
        .catch((err) => this.fail(err))
    })
  }

  /** The main thread's sealer, made on first use with the one slot it reuses for every batch. */
  private localSealer(): Sealer {
    if (this.sealer === null) {
      // Each message is packed as it is sent and onChunks copies it out, so one slot serves.
      const slot = Buffer.allocUnsafeSlow(slotBytes(this.init.chunking.max))
      this.sealer = new Sealer(
        this.init,
        this.reader,
        () => slot,
        (chunks) => this.onChunks(this.local, chunks),
        // Between two messages of a big file: the event loop runs (workers' messages, the
        // walk), and the packer gets room first, as a worker's credit waits for it.
        () => new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.ready()),
      )
    }
    return this.sealer
  }

  private takeBatch(maxBytes = BATCH_BYTES): Job[] {
    const first = this.queue.shift()!
    const batch = [first]
    if (first.sizeHint === undefined || first.sizeHint > SMALL_FILE) return batch
    let bytes = first.sizeHint
    while (batch.length < BATCH_FILES && this.queue.length > 0) {
      const next = this.queue[0]!
      if (next.sizeHint === undefined || next.sizeHint > SMALL_FILE || bytes + next.sizeHint > maxBytes) break
      bytes += next.sizeHint
      batch.push(this.queue.shift()!)
    }
    return batch
  }

  private onChunks(slot: Slot, msg: ChunksMessage): void {
    const task = this.tasks.get(msg.task)
    if (!task || this.failure !== undefined) return
    let k = 0
    let at = 0
    try {
      for (const section of msg.sections) {
        const job = task.jobs[section.file]!
        for (let i = 0; i < section.count; i++, k++) {
          const id = Buffer.from(msg.ids.subarray(k * 32, k * 32 + 32))
          const len = msg.sealed[k]!
          const raw = msg.raw[k]!
          let sealed: Uint8Array | null = null
          if (len >= 0) {
            sealed = msg.data.subarray(at, at + len)
            at += len
          }
          job.stored += this.consume(id, sealed, raw)
          job.size += raw
          job.chunks.push(id)
        }
        if (section.done) {
          task.remaining--
          if (section.meta !== undefined) job.meta = section.meta
          if (section.digest !== undefined) job.digest = section.digest
          if (section.error)
            this.settle(
              job,
              // The cause keeps the errno code (ENOENT: vanished, EREPLACED: replaced...).
              new RepositoryError('REPO_SOURCE_UNREADABLE', `${job.name}: ${section.error.message}`, {
                cause: section.error,
              }),
            )
          else this.settle(job)
        }
      }
    } catch (err) {
      this.fail(err)
      return
    }
    if (task.remaining === 0) {
      this.tasks.delete(msg.task)
      if (--slot.tasks === 0) slot.worker?.unref()
      // The main thread's next batch waits for the packer to have room, as a worker would.
      if (slot === this.local)
        this.ready().then(
          () => this.dispatch(),
          (err) => this.fail(err),
        )
      else this.dispatch()
    }
    const credits = slot.credits
    if (credits === null) return
    this.ready().then(
      () => {
        Atomics.add(credits, 0, 1)
        Atomics.notify(credits, 0)
      },
      (err) => this.fail(err),
    )
  }

  private settle(job: Job, error?: unknown): void {
    if (!error && job.digest === undefined)
      error = new Error(`pipeline: ${job.name} finished without a digest`)
    if (error) job.reject(error)
    else
      job.resolve({
        chunks: job.chunks,
        size: job.size,
        stored: job.stored,
        digest: job.digest!,
        ...(job.meta !== undefined ? { meta: job.meta } : {}),
      })
    if (--this.active === 0) for (const w of this.idleWaiters.splice(0)) w()
  }

  private fail(err: unknown): void {
    if (this.failure !== undefined) return
    this.failure = err
    for (const task of this.tasks.values()) for (const job of task.jobs) job.reject(err)
    for (const job of this.queue.splice(0)) job.reject(err)
    this.tasks.clear()
    this.active = 0
    for (const w of this.idleWaiters.splice(0)) w()
    for (const s of this.slots) s.worker!.unref()
  }
}
