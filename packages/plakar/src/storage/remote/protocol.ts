/**
 * The plakar:// wire protocol, version 1 (docs/plakar-protocol.md is the specification; this
 * module is its one implementation, shared by the client store and the server's sessions).
 *
 * A connection carries frames: u32 length (big-endian, of what follows), u8 type, u32 request
 * id, then the payload. Every field is big-endian; a string is u16 length + UTF-8; a number
 * that may exceed 32 bits is a u64 read as a safe integer (a larger one is a protocol error).
 * Nothing here trusts its input: every read is bounds-checked and a frame must be consumed
 * exactly, so a decoder never yields half a field or reads past a frame.
 */
import type { Writable } from 'node:stream'
import type { StorageErrorCode } from '../../errors.js'
import { OBJECT_KINDS, type ObjectKind } from '../store.js'

export const PROTOCOL_VERSION = 1
/** The first four bytes of HELLO: a peer that is not plakar fails at once. */
export const MAGIC = 0x504c4b52 // "PLKR"
/** Bytes before the payload: length, type, id. */
export const FRAME_HEADER = 9
/** Largest payload of one frame; an object's bytes travel as DATA frames of at most this. */
export const MAX_PAYLOAD = 1 << 20
/** Largest object a server may be configured to take, and so the largest answer a client accepts. */
export const MAX_OBJECT = 1 << 30

/** Frame types. Requests come from the client; the rest from the server (DATA both ways). */
export const T = {
  HELLO: 1,
  WELCOME: 2,
  AUTH: 3,
  AUTH_OK: 4,
  CREATE: 16,
  OPEN: 17,
  PUT: 18,
  GET: 19,
  STAT: 20,
  LIST: 21,
  DELETE: 22,
  CLEAN: 23,
  DATA: 32,
  OK: 33,
  ITEMS: 34,
  ERROR: 35,
} as const

/** What a token lets its holder do (docs/plakar-protocol.md, "Rights"). */
export const ACCESS = ['read-only', 'append-only', 'full'] as const
export type Access = (typeof ACCESS)[number]

export type Operation = 'open' | 'create' | 'get' | 'stat' | 'list' | 'put' | 'delete' | 'clean'

/**
 * Whether `access` allows `op`. An append-only token may put new objects (an existing name
 * with other bytes is refused by every store: objects are immutable) but never delete one,
 * so a stolen backup client cannot destroy what it wrote before. Locks are the exception:
 * a writer must be able to remove the lock it took, so an append-only token may delete
 * objects of kind `lock` only.
 */
export function allows(access: Access, op: Operation, kind?: ObjectKind): boolean {
  switch (op) {
    case 'open':
    case 'get':
    case 'stat':
    case 'list':
      return true
    case 'create':
    case 'put':
      return access !== 'read-only'
    case 'delete':
      return access === 'full' || (access === 'append-only' && kind === 'lock')
    case 'clean':
      return access === 'full'
  }
}

export class ProtocolViolation extends Error {}

/** Builds one frame's payload. */
export class FieldWriter {
  private buf = Buffer.allocUnsafe(64)
  private at = 0

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n))
    this.buf.copy(next, 0, 0, this.at)
    this.buf = next
  }
  u8(v: number): this {
    this.room(1)
    this.buf.writeUInt8(v, this.at)
    this.at += 1
    return this
  }
  u16(v: number): this {
    this.room(2)
    this.buf.writeUInt16BE(v, this.at)
    this.at += 2
    return this
  }
  u32(v: number): this {
    this.room(4)
    this.buf.writeUInt32BE(v, this.at)
    this.at += 4
    return this
  }
  u64(v: number): this {
    this.room(8)
    this.buf.writeBigUInt64BE(BigInt(v), this.at)
    this.at += 8
    return this
  }
  str(s: string): this {
    const bytes = Buffer.from(s, 'utf8')
    if (bytes.length > 0xffff) throw new RangeError('string field over 65535 bytes')
    this.u16(bytes.length)
    return this.bytes(bytes)
  }
  bytes(b: Uint8Array): this {
    this.room(b.length)
    this.buf.set(b, this.at)
    this.at += b.length
    return this
  }
  finish(): Buffer {
    return this.buf.subarray(0, this.at)
  }
}

/** Reads one frame's payload; any short or malformed field is a ProtocolViolation. */
export class FieldReader {
  private at = 0
  constructor(private readonly buf: Buffer) {}

  private need(n: number, what: string): void {
    if (this.at + n > this.buf.length) throw new ProtocolViolation(`truncated ${what}`)
  }
  u8(): number {
    this.need(1, 'u8')
    return this.buf.readUInt8(this.at++)
  }
  u16(): number {
    this.need(2, 'u16')
    const v = this.buf.readUInt16BE(this.at)
    this.at += 2
    return v
  }
  u32(): number {
    this.need(4, 'u32')
    const v = this.buf.readUInt32BE(this.at)
    this.at += 4
    return v
  }
  u64(): number {
    this.need(8, 'u64')
    const v = this.buf.readBigUInt64BE(this.at)
    this.at += 8
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ProtocolViolation('u64 field past 2^53')
    return Number(v)
  }
  str(): string {
    const n = this.u16()
    this.need(n, 'string')
    const s = this.buf.toString('utf8', this.at, this.at + n)
    this.at += n
    return s
  }
  kind(): ObjectKind {
    const k = this.u8()
    const kind = OBJECT_KINDS[k]
    if (kind === undefined) throw new ProtocolViolation(`unknown object kind ${k}`)
    return kind
  }
  rest(): Buffer {
    const b = this.buf.subarray(this.at)
    this.at = this.buf.length
    return b
  }
  end(): void {
    if (this.at !== this.buf.length)
      throw new ProtocolViolation(`${this.buf.length - this.at} bytes left over`)
  }
}

export function kindCode(kind: ObjectKind): number {
  const k = OBJECT_KINDS.indexOf(kind)
  if (k < 0) throw new TypeError(`unknown object kind ${JSON.stringify(kind)}`)
  return k
}

/** One frame, header included, ready to write. */
export function frame(type: number, id: number, payload: Uint8Array = EMPTY): Buffer {
  if (payload.length > MAX_PAYLOAD) throw new RangeError(`frame payload of ${payload.length} bytes`)
  const out = Buffer.allocUnsafe(FRAME_HEADER + payload.length)
  out.writeUInt32BE(5 + payload.length, 0)
  out.writeUInt8(type, 4)
  out.writeUInt32BE(id, 5)
  out.set(payload, FRAME_HEADER)
  return out
}

const corked = new WeakSet<Writable>()

/**
 * socket.write, with every write of the same turn of the event loop sent in one syscall:
 * the first corks the socket and the uncork is queued behind the turn's other work. A
 * restore asks for dozens of ranges at once, and a server answers several at once; one
 * write each cost more CPU than the bytes on loopback (a syscall, and a wakeup of the peer,
 * per frame). The uncork waits for the turn's other microtasks (a few ms of main-thread
 * work at most: opening blobs is on workers). Returns what socket.write returns (false:
 * wait for 'drain').
 */
export function writeBatched(socket: Writable, bytes: Uint8Array): boolean {
  if (!corked.has(socket)) {
    corked.add(socket)
    socket.cork()
    process.nextTick(() => {
      corked.delete(socket)
      socket.uncork()
    })
  }
  return socket.write(bytes)
}

/** A frame's header alone, for a payload written after it without a copy. */
export function frameHeader(type: number, id: number, payloadLength: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER)
  out.writeUInt32BE(5 + payloadLength, 0)
  out.writeUInt8(type, 4)
  out.writeUInt32BE(id, 5)
  return out
}

const EMPTY = Buffer.alloc(0)

export interface Frame {
  readonly type: number
  readonly id: number
  readonly payload: Buffer
}

/**
 * Cuts a byte stream into frames. A frame longer than `maxPayload` is a violation as soon as
 * its header arrives: a hostile length (4 GiB) never makes the decoder allocate it.
 */
export class FrameDecoder {
  private chunks: Buffer[] = []
  private buffered = 0

  /** Largest payload accepted; a session raises it once the client has authenticated. */
  constructor(public maxPayload: number = MAX_PAYLOAD) {}

  /** Bytes received and not yet part of a whole frame. */
  get pending(): number {
    return this.buffered
  }

  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk)
    this.buffered += chunk.length
    const out: Frame[] = []
    for (;;) {
      if (this.buffered < 4) break
      const head = this.peek(4)
      const length = head.readUInt32BE(0)
      if (length < 5 || length - 5 > this.maxPayload) {
        throw new ProtocolViolation(`frame length ${length} outside 5..${this.maxPayload + 5}`)
      }
      if (this.buffered < 4 + length) break
      const whole = this.take(4 + length)
      out.push({ type: whole.readUInt8(4), id: whole.readUInt32BE(5), payload: whole.subarray(FRAME_HEADER) })
    }
    return out
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!
    this.chunks = [Buffer.concat(this.chunks)]
    return this.chunks[0]!
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!
    let out: Buffer
    if (first.length >= n) {
      out = first.subarray(0, n)
      if (first.length === n) this.chunks.shift()
      else this.chunks[0] = first.subarray(n)
    } else {
      out = Buffer.allocUnsafe(n)
      let at = 0
      while (at < n) {
        const c = this.chunks[0]!
        const k = Math.min(c.length, n - at)
        c.copy(out, at, 0, k)
        at += k
        if (k === c.length) this.chunks.shift()
        else this.chunks[0] = c.subarray(k)
      }
    }
    this.buffered -= n
    return out
  }
}

/**
 * The StorageError codes that cross a process or network boundary as themselves (in an
 * ERROR frame, or a storage-link answer); any other code arrives as `fallback`.
 */
const WIRE_CODES = new Set<string>([
  'STORAGE_BAD_NAME',
  'STORAGE_BAD_LOCATION',
  'STORAGE_EXISTS',
  'STORAGE_NOT_FOUND',
  'STORAGE_SHORT_READ',
  'STORAGE_READ_ONLY',
  'STORAGE_IO',
  'STORAGE_CLOSED',
  'STORAGE_DENIED',
  'STORAGE_REMOTE',
])

export function wireCode(code: string | undefined, fallback: StorageErrorCode): StorageErrorCode {
  return code !== undefined && WIRE_CODES.has(code) ? (code as StorageErrorCode) : fallback
}

/** A store's message without its `location: ` prefix: the receiver puts its own location there. */
export function withoutLocation(message: string, location: string): string {
  return message.startsWith(`${location}: `) ? message.slice(location.length + 2) : message
}

/** Resolves once `stream` drains, or at once if it is already gone (its 'close' may have passed). */
export function drained(stream: Writable): Promise<void> {
  // One wait per stream, however many requests wait on it: a listener pair each would pass
  // Node's listener limit with a connection's 64 requests in flight.
  let wait = draining.get(stream)
  if (wait === undefined) {
    wait = new Promise((resolve) => {
      if (stream.destroyed) return resolve()
      const done = () => {
        stream.off('drain', done)
        stream.off('close', done)
        draining.delete(stream)
        resolve()
      }
      stream.on('drain', done)
      stream.on('close', done)
    })
    if (!stream.destroyed) draining.set(stream, wait)
  }
  return wait
}
const draining = new WeakMap<Writable, Promise<void>>()

/** HELLO: the client's magic and the versions it speaks. */
export function hello(min = PROTOCOL_VERSION, max = PROTOCOL_VERSION): Buffer {
  return new FieldWriter().u32(MAGIC).u16(min).u16(max).finish()
}

/** An ERROR frame's payload: a stable code (a StorageError code) and a one-line message. */
export function errorPayload(code: string, message: string): Buffer {
  return new FieldWriter().str(code).str(message.slice(0, 4096)).finish()
}
