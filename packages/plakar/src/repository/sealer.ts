/**
 * The pipeline's work on one thread: reads sources (the reader's, source.ts), cuts them with
 * the repository's chunker, names each chunk, and compresses+encrypts the chunks the
 * repository does not already hold, handing the results out as ChunksMessages
 * (pipeline-protocol.ts). A pipeline worker runs one (pipeline-worker.ts); the main thread
 * runs one too, for batches of small files while it would otherwise wait (pipeline.ts).
 */
import { createHash, type Hash } from 'node:crypto'
import { chunkerFor } from '../chunking/index.js'
import type { Envelope } from '../format/index.js'
import { envelopeFor } from './blob-opener.js'
import { type KnownBlobs, openKnownBlobs } from './cache.js'
import {
  type ChunksMessage,
  FLUSH_BYTES,
  type SectionInfo,
  type TaskMessage,
  type WorkerInit,
} from './pipeline-protocol.js'
import type { Source, SourceReader } from './source.js'

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

  end(file: number, error?: SectionInfo['error'], meta?: unknown, digest?: Uint8Array): void {
    this.slot()
    if (this.open?.file !== file) {
      this.closeSection(false)
      this.open = { file, count: 0 }
    }
    this.closeSection(true, error, meta, digest)
  }

  private closeSection(
    done: boolean,
    error?: SectionInfo['error'],
    meta?: unknown,
    digest?: Uint8Array,
  ): void {
    if (!this.open) return
    const s: SectionInfo = { ...this.open, done }
    this.sections.push(
      error ? { ...s, error } : { ...s, ...(meta !== undefined && { meta }), ...(digest && { digest }) },
    )
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
  /** The blobs the repository held at start (the local cache's index); null when none. */
  private readonly known: KnownBlobs | null
  // Twice the largest chunk: a refill happens after at least `max` bytes were consumed, so
  // moving the tail down costs at most one extra copy of the data.
  private readonly buffer: Buffer
  /** The file being sealed's whole-content digest (one file at a time per sealer). */
  private hash: Hash = createHash('sha256')

  constructor(
    init: SealerInit,
    private readonly reader: SourceReader<unknown>,
    private readonly nextSlot: NextSlot,
    private readonly send: Send,
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
    this.known = init.cacheFile ? openKnownBlobs(init.cacheFile) : null
  }

  close(): void {
    this.known?.close()
  }

  async runTask(task: TaskMessage): Promise<void> {
    const out = new Outbox(task.task, this.nextSlot, this.send)
    const sources = this.reader.task(task.files)
    for (let file = 0; file < task.files.length; file++) {
      let source: Source
      try {
        const opening = sources.open(file)
        source = opening instanceof Promise ? await opening : opening
      } catch (err) {
        fail(out, file, err)
        continue
      }
      let meta: unknown
      this.hash = createHash('sha256')
      try {
        await this.drive(out, this.chunkSource(out, file, source))
        meta = source.close(true)
      } catch (err) {
        fail(out, file, err)
        continue
      }
      out.end(file, undefined, meta, this.hash.digest())
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
    // A pause that throws ends the loop, and for-of then closes the source (the steps' catch).
    for (const _ of steps) await pause()
  }

  private sealChunk(out: Outbox, file: number, chunk: Uint8Array): void {
    this.hash.update(chunk)
    const id = this.envelope.blobId(chunk)
    // The pieces may alias the read buffer: push copies them before it is reused.
    const parts = this.known?.has(id) ? null : this.envelope.sealBlobParts('data', id, chunk)
    out.push(file, id, chunk.length, parts)
  }

  /**
   * A source's chunks: cut from `whole` in place, or streamed through the reused buffer to
   * its end. The source is closed here when reading fails (close(false)); the caller closes
   * one read through.
   */
  private *chunkSource(out: Outbox, file: number, source: Source): Generator<void> {
    let through = false
    try {
      const whole = source.whole
      if (whole !== null) {
        for (let s = 0; s < whole.length; ) {
          const len = this.chunker.cut(whole, s, whole.length, true)
          this.sealChunk(out, file, whole.subarray(s, s + len))
          s += len
        }
      } else yield* this.chunkStream(out, file, source)
      through = true
    } finally {
      if (!through) source.close(false)
    }
  }

  private *chunkStream(out: Outbox, file: number, source: Source): Generator<void> {
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
          const n = source.read(buffer, end, buffer.length - end)
          if (n === 0) eof = true
          else end += n
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
}

function fail(out: Outbox, file: number, err: unknown): void {
  const e = err as NodeJS.ErrnoException
  out.end(file, { code: e.code ?? 'EIO', message: e.message })
}
