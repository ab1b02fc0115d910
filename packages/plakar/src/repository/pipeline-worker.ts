/**
 * A pipeline worker (worker_threads entry; tsup emits it as dist/pipeline-worker.{js,cjs}).
 * Reads files with synchronous I/O into one reused buffer (the fastest way to read here,
 * and harmless off the main thread), cuts them with the repository's chunker, names each
 * chunk, and compresses+encrypts the chunks the repository does not already hold.
 * See pipeline-protocol.ts for the messages.
 */
import { closeSync, openSync, readSync } from 'node:fs'
import { parentPort, workerData } from 'node:worker_threads'
import Database from 'better-sqlite3'
import { chunkerFor } from '../chunking/index.js'
import { codecByName, codecsByTag } from '../compression/index.js'
import { blobIdFunction } from '../crypto/index.js'
import { Envelope } from '../format/index.js'
import {
  type ChunksMessage,
  type FileSource,
  FLUSH_BYTES,
  PROTOCOL_VERSION,
  type SectionInfo,
  type TaskMessage,
  type WorkerInit,
} from './pipeline-protocol.js'

const init = workerData as WorkerInit
if (init.version !== PROTOCOL_VERSION)
  throw new Error(`pipeline worker: protocol ${init.version} unsupported`)

const envelope = new Envelope({
  data: init.dataKey,
  blobId: blobIdFunction(init.idKey),
  codec: init.compression ? codecByName(init.compression) : null,
  codecs: codecsByTag(),
})
const chunker = chunkerFor(init.chunking.algorithm, init.chunking)
const max = init.chunking.max
const credits = new Int32Array(init.credits)
const known = (() => {
  if (!init.cacheFile) return null
  const db = new Database(init.cacheFile, { readonly: true, fileMustExist: true })
  db.pragma('busy_timeout = 10000')
  return db.prepare('SELECT 1 FROM repo_blobs WHERE id = ?').pluck()
})()
// Twice the largest chunk: a refill happens after at least `max` bytes were consumed, so
// moving the tail down costs at most one extra copy of the data.
const buffer = Buffer.allocUnsafe(2 * max)

// Room for FLUSH_BYTES plus the largest sealed chunk (a chunk is stored compressed only when
// that shrinks it, so it seals to at most max + tag + AEAD overhead).
const CAPACITY = FLUSH_BYTES + max + 64
const MIN_BUFFER = 64 << 10

/**
 * Gathers sealed chunks into one buffer, copying each once, and posts the buffer (transferred,
 * not copied) when it holds FLUSH_BYTES or the task ends. The buffer is sized from the task's
 * size hint (uninitialised memory, grown by doubling when the hint was short), so a batch of
 * small files does not allocate, zero and transfer a buffer made for big ones.
 */
class Outbox {
  private sections: SectionInfo[] = []
  private ids: Buffer[] = []
  private raw: number[] = []
  private sealed: number[] = []
  private data: Buffer
  private bytes = 0
  private open: { file: number; count: number } | null = null

  constructor(
    private readonly task: number,
    private expected: number,
  ) {
    this.data = this.allocate(0)
  }

  private allocate(need: number): Buffer {
    const size = Math.min(CAPACITY, Math.max(MIN_BUFFER, need, this.expected + 1024))
    return Buffer.allocUnsafeSlow(Math.max(size, need))
  }

  private reserve(n: number): void {
    if (this.bytes + n <= this.data.length) return
    const grown = this.allocate(Math.max(2 * this.data.length, this.bytes + n))
    this.data.copy(grown, 0, 0, this.bytes)
    this.data = grown
  }

  push(file: number, id: Buffer, rawLength: number, parts: readonly Uint8Array[] | null): void {
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
      this.reserve(n)
      for (const p of parts) {
        this.data.set(p, this.bytes)
        this.bytes += p.length
      }
      this.sealed.push(this.bytes - start)
    } else {
      this.sealed.push(-1)
    }
    if (this.bytes >= FLUSH_BYTES) this.post()
  }

  end(file: number, error?: SectionInfo['error']): void {
    if (this.open?.file !== file) {
      this.closeSection(false)
      this.open = { file, count: 0 }
    }
    this.closeSection(true, error)
  }

  private closeSection(done: boolean, error?: SectionInfo['error']): void {
    if (!this.open) return
    this.sections.push(error ? { ...this.open, done, error } : { ...this.open, done })
    this.open = null
  }

  /** Posts what is gathered (an open file section continues in the next message). */
  post(): void {
    const continuing = this.open
    this.closeSection(false)
    if (this.sections.length === 0) return
    const n = this.ids.length
    const ids = new Uint8Array(n * 32)
    for (let k = 0; k < n; k++) ids.set(this.ids[k]!, k * 32)
    const raw = Uint32Array.from(this.raw)
    const sealed = Int32Array.from(this.sealed)
    this.expected = Math.max(0, this.expected - this.bytes)
    const data = this.data.buffer as ArrayBuffer
    const msg: ChunksMessage = { task: this.task, sections: this.sections, ids, raw, sealed, data }
    takeCredit()
    parentPort!.postMessage(msg, [ids.buffer, raw.buffer, sealed.buffer, data])
    this.sections = []
    this.ids = []
    this.raw = []
    this.sealed = []
    this.bytes = 0
    this.data = this.allocate(0)
    if (continuing) this.open = { file: continuing.file, count: 0 }
  }
}

function takeCredit(): void {
  for (;;) {
    const v = Atomics.load(credits, 0)
    if (v > 0) {
      if (Atomics.compareExchange(credits, 0, v, v - 1) === v) return
    } else {
      Atomics.wait(credits, 0, v)
    }
  }
}

function chunkFile(out: Outbox, file: number, source: FileSource): void {
  const own = source.fd === null
  const path = typeof source.path === 'string' ? source.path : Buffer.from(source.path)
  const fd = own ? openSync(path, 'r') : source.fd!
  let position = 0
  try {
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
          const n = readSync(fd, buffer, end, buffer.length - end, position)
          if (n === 0) eof = true
          else {
            end += n
            position += n
          }
        }
      }
      if (end === start) break
      const len = chunker.cut(buffer, start, end, eof)
      const chunk = buffer.subarray(start, start + len)
      start += len
      const id = envelope.blobId(chunk)
      // The pieces may alias `buffer`: push copies them before the buffer is refilled.
      const parts = known?.get(id) !== undefined ? null : envelope.sealBlobParts('data', id, chunk)
      out.push(file, id, len, parts)
    }
  } finally {
    if (own) closeSync(fd)
  }
}

parentPort!.on('message', (task: TaskMessage) => {
  const out = new Outbox(task.task, task.expected)
  task.files.forEach((source, file) => {
    try {
      chunkFile(out, file, source)
      out.end(file)
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      out.end(file, { code: e.code ?? 'EIO', message: e.message })
    }
  })
  out.post()
})
