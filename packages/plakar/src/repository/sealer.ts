/**
 * The pipeline's work on one thread: reads files, cuts them with the repository's chunker,
 * names each chunk, and compresses+encrypts the chunks the repository does not already hold,
 * handing the results out as ChunksMessages (pipeline-protocol.ts). A pipeline worker runs
 * one (pipeline-worker.ts); the main thread runs one too, for batches of small files while it
 * would otherwise wait (pipeline.ts).
 */
import { closeSync, constants, open as fsOpen, read as fsRead, fstatSync, openSync, readSync } from 'node:fs'
import Database from 'better-sqlite3'
import { chunkerFor } from '../chunking/index.js'
import type { Envelope } from '../format/index.js'
import { readXattrs } from '../platform/xattr.js'
import { envelopeFor } from './blob-opener.js'
import {
  type ChunksMessage,
  type FileSource,
  FLUSH_BYTES,
  type SectionInfo,
  type TaskMessage,
  type WorkerInit,
} from './pipeline-protocol.js'

export type SealerInit = Omit<WorkerInit, 'credits' | 'version' | 'slots'>
/** Hands a message out; `transfer` lists the buffers it may move instead of copying. */
export type Send = (msg: ChunksMessage, transfer: ArrayBuffer[]) => void
/**
 * The region the next message fills (slotBytes(max) bytes): in a worker, the next shared
 * slot once its credit is taken (it may block); on the main thread, which packs each message
 * as it is sent, always the same buffer.
 */
export type NextSlot = () => Uint8Array

/**
 * Reads wait on the disk only on a cold page cache. Synchronous reads are the cheapest once
 * data is cached (reading ahead on libuv's pool costs a thread hand-off per open, read and
 * close: ~4 ms of CPU per MB of small files here, more than hashing and encryption together),
 * so small files are read synchronously until reads are slow (SLOW_OF_LAST of the last 8:
 * on a busy machine a cached read is now and then slow because the thread was preempted);
 * then the next READ_AHEAD_SPELL small files are read ahead on the pool, several at once,
 * and the sealer tries synchronous reads again. A warm backup pays no hand-offs; a cold one
 * waits on a few reads per spell.
 */
const READ_AHEAD_SPELL = 256
const SLOW_OF_LAST = 3
const PREFETCH_FILES = 16
const PREFETCH_BYTES = 4 << 20
const SMALL = 1 << 20

/**
 * A cached open+read costs ~10 µs plus a copy at several GB/s; one of an SSD's cold reads
 * takes 100 µs or more.
 */
function slowRead(ms: number, bytes: number): boolean {
  return ms > 0.05 + bytes / 1_000_000
}

function popcount(bits: number): number {
  let n = 0
  for (let b = bits; b !== 0; b &= b - 1) n++
  return n
}

function sourcePath(source: FileSource): string | Buffer {
  return typeof source.path === 'string' ? source.path : Buffer.from(source.path)
}

// O_NOFOLLOW: a file replaced by a symlink since the caller's lstat is not followed;
// O_NONBLOCK: one replaced by a FIFO does not block the open.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK

/** A file the caller saw as another (replaced between its lstat and our open). */
class Replaced extends Error {
  readonly code = 'EREPLACED'
  constructor() {
    super('replaced during the backup')
  }
}

/** `fd`, checked to be the regular file the caller saw (closed and Replaced thrown if not). */
function checked(source: FileSource, fd: number): number {
  const st = fstatSync(fd)
  const e = source.expect
  if (!st.isFile() || (e !== undefined && (st.dev !== e.dev || st.ino !== e.ino))) {
    closeSync(fd)
    throw new Replaced()
  }
  return fd
}

/** ELOOP from O_NOFOLLOW: the file became a symlink. */
function openError(err: NodeJS.ErrnoException): Error {
  return err.code === 'ELOOP' ? new Replaced() : err
}

function openSource(source: FileSource): number {
  let fd: number
  try {
    fd = openSync(sourcePath(source), OPEN_FLAGS)
  } catch (err) {
    throw openError(err as NodeJS.ErrnoException)
  }
  return checked(source, fd)
}

/**
 * A small file read ahead, whole, on libuv's pool while earlier files are being sealed: on a
 * cold page cache this keeps several reads in flight instead of one. `data` holds the file
 * when it ended where its size hint said; otherwise (it grew) the rest is streamed.
 */
interface Prefetched {
  readonly fd: number
  readonly own: boolean
  readonly data: Buffer
  /** true when the read reached end of file */
  readonly complete: boolean
}

function prefetch(source: FileSource): Promise<Prefetched> {
  const size = source.size!
  return new Promise((resolve, reject) => {
    const read = (fd: number, own: boolean) => {
      // One byte more than expected tells a file that grew from one that ended.
      const data = Buffer.allocUnsafe(size + 1)
      fsRead(fd, data, 0, size + 1, 0, (err, n) => {
        if (err) {
          if (own) closeSync(fd)
          reject(err)
        } else resolve({ fd, own, data: data.subarray(0, n), complete: n <= size })
      })
    }
    if (source.fd !== null) read(source.fd, false)
    else
      fsOpen(sourcePath(source), OPEN_FLAGS, (err, fd) => {
        if (err) return reject(openError(err))
        try {
          read(checked(source, fd), true)
        } catch (e) {
          reject(e)
        }
      })
  })
}

/**
 * Gathers sealed chunks into the message's slot (see pipeline-protocol.ts), copying each
 * once, and sends the message when it holds FLUSH_BYTES or the task ends. A message takes its
 * slot when it gets its first content, so every message sent has had exactly one.
 */
class Outbox {
  private sections: SectionInfo[] = []
  private ids: Buffer[] = []
  private raw: number[] = []
  private sealed: number[] = []
  private data: Uint8Array | null = null
  private bytes = 0
  private open: { file: number; count: number } | null = null
  /** A message went since the last look (see Sealer's pause). */
  posted = false

  constructor(
    private readonly task: number,
    private readonly nextSlot: NextSlot,
    private readonly send: Send,
  ) {}

  private slot(): Uint8Array {
    this.data ??= this.nextSlot()
    return this.data
  }

  push(file: number, id: Buffer, rawLength: number, parts: readonly Uint8Array[] | null): void {
    const data = this.slot()
    if (this.open?.file !== file) {
      this.closeSection(false)
      this.open = { file, count: 0 }
    }
    this.open.count++
    this.ids.push(id)
    this.raw.push(rawLength)
    if (parts) {
      const start = this.bytes
      let n = 0
      for (const p of parts) n += p.length
      // Cannot happen: the slot holds FLUSH_BYTES plus the largest sealed chunk.
      if (start + n > data.length) throw new Error(`sealed chunk of ${n} bytes overflows its slot`)
      for (const p of parts) {
        data.set(p, this.bytes)
        this.bytes += p.length
      }
      this.sealed.push(this.bytes - start)
    } else {
      this.sealed.push(-1)
    }
    if (this.bytes >= FLUSH_BYTES) this.post()
  }

  end(file: number, error?: SectionInfo['error'], xattrs?: SectionInfo['xattrs']): void {
    this.slot()
    if (this.open?.file !== file) {
      this.closeSection(false)
      this.open = { file, count: 0 }
    }
    this.closeSection(true, error, xattrs)
  }

  private closeSection(done: boolean, error?: SectionInfo['error'], xattrs?: SectionInfo['xattrs']): void {
    if (!this.open) return
    const s: SectionInfo = { ...this.open, done }
    this.sections.push(error ? { ...s, error } : xattrs && xattrs.length > 0 ? { ...s, xattrs } : s)
    this.open = null
  }

  /** Sends what is gathered (an open file section continues in the next message). */
  post(): void {
    const continuing = this.open
    this.closeSection(false)
    if (this.sections.length === 0) return
    const n = this.ids.length
    const ids = new Uint8Array(n * 32)
    for (let k = 0; k < n; k++) ids.set(this.ids[k]!, k * 32)
    const raw = Uint32Array.from(this.raw)
    const sealed = Int32Array.from(this.sealed)
    const data = this.slot().subarray(0, this.bytes)
    const msg: ChunksMessage = { task: this.task, sections: this.sections, ids, raw, sealed, data }
    this.sections = []
    this.ids = []
    this.raw = []
    this.sealed = []
    this.bytes = 0
    this.data = null
    if (continuing) this.open = { file: continuing.file, count: 0 }
    this.posted = true
    // The slot is shared (or reused), not transferred: the receiver copies it before it frees it.
    this.send(msg, [ids.buffer, raw.buffer, sealed.buffer])
  }
}

export class Sealer {
  private readonly envelope: Envelope
  private readonly chunker: ReturnType<typeof chunkerFor>
  private readonly max: number
  /** The index lookup of the local cache; null when the repository held nothing at start. */
  private readonly known: Database.Statement | null
  // Twice the largest chunk: a refill happens after at least `max` bytes were consumed, so
  // moving the tail down costs at most one extra copy of the data.
  private readonly buffer: Buffer
  private readAheadLeft = 0
  /** One bit per recent synchronous read of a small file, 1 = slow, newest lowest. */
  private slowReads = 0
  /** Milliseconds spent in synchronous open and read calls (the caller times a file with it). */
  private readWaitMs = 0

  constructor(
    init: SealerInit,
    private readonly nextSlot: NextSlot,
    private readonly send: Send,
    /** Test seam: take the cold-cache path (read ahead) for every small file. */
    private readonly alwaysReadAhead = false,
    /**
     * Awaited after each message sent while a file is being sealed: the main thread's sealer
     * lets its event loop run there (the workers' messages, the walk), so a big file does not
     * hold it for long. A worker has none and runs each file through in one go.
     */
    private readonly pause: (() => Promise<void>) | null = null,
  ) {
    this.envelope = envelopeFor(init)
    this.chunker = chunkerFor(init.chunking.algorithm, init.chunking)
    this.max = init.chunking.max
    this.buffer = Buffer.allocUnsafe(2 * this.max)
    this.known = openKnown(init.cacheFile)
  }

  close(): void {
    this.known?.database.close()
  }

  async runTask(task: TaskMessage): Promise<void> {
    const out = new Outbox(task.task, this.nextSlot, this.send)
    const files = task.files
    const small = (f: FileSource) => f.size !== undefined && f.size <= SMALL
    const ahead: (Promise<Prefetched> | null)[] = files.map(() => null)
    let next = 0
    let inFlight = 0
    const fill = (from: number) => {
      if (next < from) next = from
      while (next < files.length && next - from < PREFETCH_FILES && inFlight < PREFETCH_BYTES) {
        const f = files[next]!
        if (!small(f)) break
        const p = prefetch(f)
        p.catch(() => {}) // surfaced when awaited, in order
        ahead[next] = p
        inFlight += f.size!
        next++
      }
    }
    for (let file = 0; file < files.length; file++) {
      const source = files[file]!
      if (this.readAheadLeft > 0 || this.alwaysReadAhead) fill(file)
      const pending = ahead[file]
      if (pending) {
        ahead[file] = null
        inFlight -= source.size!
        this.readAheadLeft--
        try {
          await this.drive(out, this.chunkPrefetched(out, file, await pending))
          this.done(out, file, source)
        } catch (err) {
          fail(out, file, err)
        }
        continue
      }
      this.readWaitMs = 0
      try {
        await this.drive(out, this.chunkFile(out, file, source))
        this.done(out, file, source)
      } catch (err) {
        fail(out, file, err)
      }
      if (small(source)) {
        this.slowReads = ((this.slowReads << 1) | (slowRead(this.readWaitMs, source.size!) ? 1 : 0)) & 0xff
        if (popcount(this.slowReads) >= SLOW_OF_LAST) {
          this.readAheadLeft = READ_AHEAD_SPELL
          this.slowReads = 0
        }
      }
    }
    out.post()
  }

  /** Runs a file's steps (each ends where a message went): straight through, or pausing. */
  private async drive(out: Outbox, steps: Generator<void>): Promise<void> {
    out.posted = false // a message of an earlier file is not a step of this one
    const pause = this.pause
    if (pause === null) {
      for (const _ of steps) {
        // no pause in a worker
      }
      return
    }
    // A pause that throws ends the loop, and for-of then closes the file (the steps' finally).
    for (const _ of steps) await pause()
  }

  private sealChunk(out: Outbox, file: number, chunk: Buffer): void {
    const id = this.envelope.blobId(chunk)
    // The pieces may alias the read buffer: push copies them before it is reused.
    const parts = this.known?.get(id) !== undefined ? null : this.envelope.sealBlobParts('data', id, chunk)
    out.push(file, id, chunk.length, parts)
  }

  /**
   * Streams a file from `position` through the reused buffer with synchronous reads (the
   * fastest way here once data is in the page cache), to end of file.
   */
  private *chunkStream(out: Outbox, file: number, fd: number, position: number): Generator<void> {
    const { buffer, max, chunker } = this
    let start = 0
    let end = 0
    let eof = false
    for (;;) {
      if (!eof && end - start < max) {
        if (start > 0) {
          buffer.copyWithin(0, start, end)
          end -= start
          start = 0
        }
        while (end < buffer.length && !eof) {
          const t = performance.now()
          const n = readSync(fd, buffer, end, buffer.length - end, position)
          this.readWaitMs += performance.now() - t
          if (n === 0) eof = true
          else {
            end += n
            position += n
          }
        }
      }
      if (end === start) break
      const len = chunker.cut(buffer, start, end, eof)
      this.sealChunk(out, file, buffer.subarray(start, start + len))
      start += len
      // The buffer holds nothing the message needs (it was copied into the slot).
      if (out.posted) {
        out.posted = false
        yield
      }
    }
  }

  private *chunkPrefetched(out: Outbox, file: number, p: Prefetched): Generator<void> {
    try {
      const { data } = p
      if (!p.complete) {
        // It grew: stream it all, as a big file (its first bytes are in the page cache now).
        yield* this.chunkStream(out, file, p.fd, 0)
        return
      }
      for (let s = 0; s < data.length; ) {
        const len = this.chunker.cut(data, s, data.length, true)
        this.sealChunk(out, file, data.subarray(s, s + len))
        s += len
      }
    } finally {
      if (p.own) closeSync(p.fd)
    }
  }

  private *chunkFile(out: Outbox, file: number, source: FileSource): Generator<void> {
    const own = source.fd === null
    const t = performance.now()
    const fd = own ? openSource(source) : source.fd!
    this.readWaitMs += performance.now() - t
    try {
      yield* this.chunkStream(out, file, fd, 0)
    } finally {
      if (own) closeSync(fd)
    }
  }

  /** Ends a file read whole, with its attributes when asked for (listed by path: the package takes no fd). */
  private done(out: Outbox, file: number, source: FileSource): void {
    out.end(file, undefined, source.xattrs ? readXattrs(Buffer.from(sourcePath(source))) : undefined)
  }
}

function fail(out: Outbox, file: number, err: unknown): void {
  const e = err as NodeJS.ErrnoException
  out.end(file, { code: e.code ?? 'EIO', message: e.message })
}

function openKnown(cacheFile: string | null): Database.Statement | null {
  if (!cacheFile) return null
  const db = new Database(cacheFile, { readonly: true, fileMustExist: true })
  db.pragma('busy_timeout = 10000')
  // A repository that held nothing when the backup started (a first backup) has nothing to
  // skip: a lookup per chunk would cost ~15 µs each for no hit. The main thread still
  // deduplicates what is sealed, so a blob another writer stored meanwhile is not stored
  // twice, only sealed once for nothing.
  if (db.prepare('SELECT 1 FROM repo_blobs LIMIT 1').get() === undefined) {
    db.close()
    return null
  }
  return db.prepare('SELECT 1 FROM repo_blobs WHERE id = ?').pluck()
}
