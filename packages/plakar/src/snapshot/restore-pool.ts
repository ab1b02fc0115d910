import type { BlobPool, LocatedBlob, SealedBatch } from '../repository/index.js'
import type { Entry } from './entry.js'
import { failureText } from './errno.js'
import type { RestoreRepository } from './repository-view.js'
import {
  FILE_DONE,
  FILE_FAILED,
  putSection,
  RESTORE_PROTOCOL_VERSION,
  RESTORE_WORKER,
  type RestoreBatch,
  type RestoreInit,
  type RestoreReply,
  SECTION_FIELDS,
} from './restore-protocol.js'
import type { TreeReader } from './tree.js'

/**
 * Writes the files of a restore on worker threads, in batches (see restore-protocol.ts).
 * The main thread locates the blobs of a batch of files in one index query, has the repository
 * read them as one sealed batch (Repository.fetchBlobs: neighbouring blobs of a pack in one
 * range read), and posts it to a worker of the repository's blob pool (Repository.blobPool),
 * where the repository opens (verifies) each blob and the restore writes the files with
 * synchronous calls (restore-worker.ts). A thread
 * hand-off per file, per blob or per system call costs more than the work on a small machine;
 * one per batch of a few MiB does not.
 *
 * A file larger than a batch goes in sections of one batch each to one worker, which keeps it
 * open in between (the worker is pinned to it until its last section); the others go on with
 * the small files meanwhile. Memory is bounded: at most BATCHES_PER_WORKER batches of about
 * BATCH_BYTES per worker are read or in flight, and add() makes the walk wait when QUEUE_MAX
 * files are queued.
 *
 * CONTRACT: every job given to add() is reported once to `done`, with null once the file is
 * in place whole with its metadata, or with the message of what failed (the file then is
 * not there, nor its temporary name). Errors that are bugs reject drain().
 */
const BATCH_BYTES = 2 << 20
/** Files per batch at most: bounds the work (and the reply's delay) of a batch of tiny files. */
const BATCH_FILES = 512
/** Chunks per section of a big file at most (a sparse file's zero chunks are tiny sealed). */
const SECTION_CHUNKS = 4096
const BATCHES_PER_WORKER = 2
/** Ids of a big file located per index query. */
const LOCATE_GROUP = 512
/**
 * Files queued before the walk waits: as many as a batch takes. A longer queue only keeps more
 * objects alive through the main thread's collections (a fifth of its GC time at 2048).
 */
const QUEUE_MAX = 512

export interface RestoreJob {
  readonly entry: Entry
  /** Where the worker writes the file, then renames it to `path`. */
  readonly tmp: Buffer
  readonly path: Buffer
}

export interface RestorePoolEvents {
  /** The job is finished: in place (error null), or failed with this message. */
  done(job: RestoreJob, error: string | null): void
  /** The file is in place but something of it could not be restored (extended attributes). */
  warn(job: RestoreJob, message: string): void
  /** Content bytes written. */
  bytes(n: number): void
}

export interface RestorePoolOptions {
  readonly workers: number
  readonly owners: boolean
  /**
   * Start the workers with the v8 young generation capped at this many MiB: they allocate
   * only short-lived buffers, and a smaller nursery keeps a restore's memory down.
   */
  readonly youngGenerationMb?: number
}

type Chunk = LocatedBlob

/** A big file sent in sections, pinned to one worker. */
interface Active {
  readonly job: RestoreJob
  readonly handle: number
  readonly ids: AsyncIterator<Buffer>
  /** Located chunks not sent yet. */
  located: Chunk[]
  exhausted: boolean
  /** Its first section went to the worker (so the worker holds it open). */
  sent: boolean
  /** Its last section went (or it failed): nothing more to send. */
  over: boolean
}

/** A file's part of a batch being built. */
interface Part {
  readonly job: RestoreJob
  readonly handle: number
  readonly open: boolean
  readonly close: boolean
  readonly abort: boolean
  readonly chunks: Chunk[]
  readonly active: Active | null
}

interface Slot {
  /** Its worker in the pool. */
  readonly worker: number
  /** Batches taken for this worker and not answered yet (being read, or posted). */
  inflight: number
  pinned: Active | null
  /** Batches are built and posted in order per worker: a big file's sections go in order. */
  chain: Promise<void>
}

type Take = { readonly files: RestoreJob[] } | { readonly active: Active }

export class RestorePool {
  private readonly slots: Slot[] = []
  private queue: RestoreJob[] = []
  private head = 0
  private nextHandle = 1
  private pool: BlobPool<RestoreBatch, RestoreReply> | null = null
  /** Jobs given and not reported yet, by handle once they have one. */
  private pending = 0
  private readonly live = new Map<number, RestoreJob>()
  private error: unknown = null
  private idleWaiters: { resolve(): void; reject(err: unknown): void }[] = []
  private roomWaiters: { resolve(): void; reject(err: unknown): void }[] = []
  private closed = false

  constructor(
    private readonly repository: RestoreRepository,
    private readonly reader: TreeReader,
    private readonly events: RestorePoolEvents,
    private readonly opts: RestorePoolOptions,
  ) {}

  /** Queue a file; when the queue is long, returns a promise to wait on before adding more. */
  add(job: RestoreJob): Promise<void> | undefined {
    if (this.error !== null) throw this.error
    this.queue.push(job)
    this.pending++
    this.pump()
    if (this.queue.length - this.head < QUEUE_MAX) return undefined
    return new Promise((resolve, reject) => this.roomWaiters.push({ resolve, reject }))
  }

  /**
   * Start the workers now rather than at the first file: their start-up (loading their code)
   * then overlaps the walk's first reads instead of delaying the first batch.
   */
  prepare(): void {
    if (this.slots.length === 0 && !this.closed) this.start()
  }

  /** Resolves once every job added is reported (jobs added meanwhile included). */
  drain(): Promise<void> {
    if (this.error !== null) return Promise.reject(this.error)
    if (this.pending === 0) return Promise.resolve()
    return new Promise((resolve, reject) => this.idleWaiters.push({ resolve, reject }))
  }

  async close(): Promise<void> {
    this.closed = true
    this.slots.length = 0
    await this.pool?.close()
  }

  private pump(): void {
    if (this.error !== null || this.closed) return
    if (this.slots.length === 0) this.start()
    for (const slot of this.slots) {
      while (slot.inflight < BATCHES_PER_WORKER) {
        const take = this.take(slot)
        if (take === null) break
        slot.inflight++
        slot.chain = slot.chain
          .then(() => ('files' in take ? this.files(slot, take.files) : this.section(slot, take.active)))
          .catch((err) => this.fatal(err))
      }
    }
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head)
      this.head = 0
    }
    if (this.queue.length - this.head < QUEUE_MAX / 2) for (const w of this.roomWaiters.splice(0)) w.resolve()
  }

  /** What the slot works on next: its pinned file, else small files, else a big file to pin. */
  private take(slot: Slot): Take | null {
    if (slot.pinned !== null) return slot.pinned.over ? null : { active: slot.pinned }
    const files: RestoreJob[] = []
    let bytes = 0
    while (this.head < this.queue.length) {
      const job = this.queue[this.head]!
      const content = job.entry.content!
      if (!('chunks' in content) || job.entry.size > BATCH_BYTES) {
        if (files.length > 0) break
        this.head++
        const handle = this.nextHandle++
        this.live.set(handle, job)
        slot.pinned = {
          job,
          handle,
          ids: this.reader.chunks(content)[Symbol.asyncIterator](),
          located: [],
          exhausted: false,
          sent: false,
          over: false,
        }
        return { active: slot.pinned }
      }
      if (files.length > 0 && (bytes + job.entry.size > BATCH_BYTES || files.length >= BATCH_FILES)) break
      this.head++
      files.push(job)
      bytes += job.entry.size
    }
    return files.length > 0 ? { files } : null
  }

  /** A batch of small files: one index query for all their chunks. */
  private async files(slot: Slot, jobs: RestoreJob[]): Promise<void> {
    const ids: Buffer[] = []
    for (const j of jobs)
      for (const id of (j.entry.content as { chunks: readonly Buffer[] }).chunks) ids.push(id)
    const locs = await this.repository.locateBlobs(ids)
    const parts: Part[] = []
    let at = 0
    for (const job of jobs) {
      const handle = this.nextHandle++
      this.live.set(handle, job)
      const n = (job.entry.content as { chunks: readonly Buffer[] }).chunks.length
      const chunks: Chunk[] = []
      let error: Error | null = null
      for (let k = at; k < at + n; k++) {
        const loc = locs[k]!
        if (loc instanceof Error) error ??= loc
        else chunks.push({ id: ids[k]!, loc })
      }
      at += n
      if (error !== null) this.report(handle, error.message)
      else parts.push({ job, handle, open: true, close: true, abort: false, chunks, active: null })
    }
    await this.send(slot, parts)
  }

  /** The next section of a big file: up to BATCH_BYTES of its chunks, located in groups. */
  private async section(slot: Slot, a: Active): Promise<void> {
    if (a.over) return this.answered(slot)
    const chunks: Chunk[] = []
    let bytes = 0
    try {
      for (;;) {
        if (a.located.length === 0 && !a.exhausted) await this.locate(a)
        const next = a.located[0]
        if (next === undefined) break
        if (chunks.length > 0 && (bytes + next.loc.length > BATCH_BYTES || chunks.length >= SECTION_CHUNKS))
          break
        chunks.push(a.located.shift()!)
        bytes += next.loc.length
      }
      // The last section closes the file: know whether more chunks follow.
      if (a.located.length === 0 && !a.exhausted) await this.locate(a)
    } catch (err) {
      const text = failureText(err)
      if (text === undefined) throw err
      this.abort(slot, a, text)
      return this.send(slot, a.sent ? [this.abortPart(a)] : [])
    }
    if (a.over) return this.answered(slot)
    const close = a.located.length === 0 && a.exhausted
    const part: Part = { job: a.job, handle: a.handle, open: !a.sent, close, abort: false, chunks, active: a }
    a.sent = true
    if (close) {
      a.over = true
      slot.pinned = null
    }
    await this.send(slot, [part])
  }

  private async locate(a: Active): Promise<void> {
    const ids: Buffer[] = []
    while (ids.length < LOCATE_GROUP) {
      const n = await a.ids.next()
      if (n.done) {
        a.exhausted = true
        break
      }
      ids.push(n.value)
    }
    if (ids.length === 0) return
    const locs = await this.repository.locateBlobs(ids)
    locs.forEach((loc, k) => {
      if (loc instanceof Error) throw loc
      a.located.push({ id: ids[k]!, loc })
    })
  }

  /** Give up on a big file: reported now; the caller tells its worker if it holds it open. */
  private abort(slot: Slot, a: Active, message: string): void {
    a.over = true
    a.located = []
    if (slot.pinned === a) slot.pinned = null
    this.report(a.handle, message)
  }

  private abortPart(a: Active): Part {
    return { job: a.job, handle: a.handle, open: false, close: true, abort: true, chunks: [], active: a }
  }

  /**
   * Read the parts' blobs (one sealed batch) and post the batch. A part whose blob cannot be
   * read fails (a big file already open: aborted on the worker).
   */
  private async send(slot: Slot, parts: Part[]): Promise<void> {
    const located: Chunk[] = []
    for (const p of parts) for (const c of p.chunks) located.push(c)
    const batch = await this.repository.fetchBlobs(located)
    const kept: { part: Part; first: number }[] = []
    let first = 0
    for (const p of parts) {
      let bad: string | null = null
      for (let i = first; i < first + p.chunks.length && bad === null; i++) {
        const error = batch.error(batch.slot(i))
        if (error !== null) bad = `blob ${Buffer.from(p.chunks[i - first]!.id).toString('hex')}: ${error}`
      }
      if (bad === null) kept.push({ part: p, first })
      else if (p.active === null) this.report(p.handle, bad)
      else {
        this.abort(slot, p.active, bad)
        if (!p.open) kept.push({ part: this.abortPart(p.active), first })
      }
      first += p.chunks.length
    }
    if (kept.length === 0 || this.closed) return this.answered(slot)
    this.post(slot, kept, batch)
  }

  private post(slot: Slot, kept: readonly { part: Part; first: number }[], batch: SealedBatch): void {
    let refCount = 0
    let nameBytes = 0
    for (const { part: p } of kept) {
      refCount += p.chunks.length
      nameBytes += p.job.tmp.length + p.job.path.length
    }
    const refs = new Uint32Array(refCount)
    const names = new Uint8Array(nameBytes)
    const sections = new Float64Array(kept.length * SECTION_FIELDS)
    const xattrs = new Map<number, (readonly [Uint8Array, Uint8Array])[]>()
    let r = 0
    let at = 0
    for (const [i, { part: p, first }] of kept.entries()) {
      for (let c = 0; c < p.chunks.length; c++) refs[r++] = batch.slot(first + c)
      const e = p.job.entry
      names.set(p.job.tmp, at)
      names.set(p.job.path, at + p.job.tmp.length)
      putSection(sections, i, {
        handle: p.handle,
        open: p.open,
        close: p.close,
        abort: p.abort,
        count: p.chunks.length,
        tmpAt: at,
        tmpLength: p.job.tmp.length,
        pathAt: at + p.job.tmp.length,
        pathLength: p.job.path.length,
        size: e.size,
        sparse: e.sparse === true,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        mtime: seconds(e.mtimeNs),
      })
      if (e.xattrs !== undefined && e.xattrs.length > 0)
        xattrs.set(
          i,
          e.xattrs.map(([k, v]) => [copy(k), copy(v)]),
        )
      at += p.job.tmp.length + p.job.path.length
    }
    const msg: RestoreBatch = { sections, xattrs, names, refs }
    const parts = kept.map((k) => k.part)
    this.pool!.post(slot.worker, batch, msg, [sections.buffer, names.buffer, refs.buffer]).then(
      (reply) => this.onReply(slot, parts, reply),
      (err) => this.fatal(err),
    )
  }

  private onReply(slot: Slot, parts: readonly Part[], reply: RestoreReply): void {
    let bytes = 0
    parts.forEach((p, i) => {
      bytes += reply.written[i]!
      const status = reply.status[i]
      if (status === FILE_DONE) {
        const warning = reply.warnings[i]
        if (warning) this.events.warn(p.job, warning)
        this.report(p.handle, null)
      } else if (status === FILE_FAILED) {
        if (p.active !== null && !p.active.over) this.abort(slot, p.active, reply.errors[i] ?? 'failed')
        else this.report(p.handle, reply.errors[i] ?? 'failed')
      }
    })
    if (bytes > 0) this.events.bytes(bytes)
    if (reply.bug !== null) this.fatal(new Error(`restore worker: ${reply.bug}`))
    this.answered(slot)
  }

  /** A batch of the slot is over (answered, or nothing was left to post). */
  private answered(slot: Slot): void {
    slot.inflight--
    this.pump()
  }

  /** A job's outcome, once. */
  private report(handle: number, error: string | null): void {
    const job = this.live.get(handle)
    if (job === undefined) return
    this.live.delete(handle)
    this.pending--
    this.events.done(job, error)
    if (this.pending === 0) for (const w of this.idleWaiters.splice(0)) w.resolve()
  }

  private fatal(err: unknown): void {
    if (this.error !== null) return
    this.error = err
    for (const w of [...this.idleWaiters.splice(0), ...this.roomWaiters.splice(0)]) w.reject(err)
  }

  private start(): void {
    const init: RestoreInit = { version: RESTORE_PROTOCOL_VERSION, owners: this.opts.owners }
    const workers = Math.max(1, this.opts.workers)
    this.pool = this.repository.blobPool<RestoreBatch, RestoreReply>({
      entry: RESTORE_WORKER,
      workers,
      init,
      ...(this.opts.youngGenerationMb !== undefined
        ? { youngGenerationMb: this.opts.youngGenerationMb }
        : {}),
      onFailure: (err) => {
        if (!this.closed) this.fatal(err)
      },
    })
    for (let w = 0; w < workers; w++)
      this.slots.push({ worker: w, inflight: 0, pinned: null, chain: Promise.resolve() })
  }
}

function seconds(ns: bigint): number {
  return Number(ns / 1000n) / 1e6
}

/** A copy with its own small ArrayBuffer: a view of a pooled Buffer would clone the whole pool. */
function copy(b: Uint8Array): Uint8Array {
  return new Uint8Array(b)
}
