import { endianness } from 'node:os'
import { PayloadError } from './errors.js'
import { readI32, readU16, readU32, writeU16, writeU32 } from './wire.js'

/**
 * Payloads made of C-style fields, as imsg peers write them with memcpy: fixed
 * width integers in host byte order, NUL-terminated strings, fixed-size char
 * arrays and raw bytes. No padding is added or skipped: a C struct's padding
 * is the caller's to spell out (pad()/skip()). A reader ends with end(), which
 * fails if any byte is left over, as OpenBSD's mproc.c does.
 */

const little = endianness() === 'LE'

export class PayloadWriter {
  private buf: Buffer
  private len = 0

  constructor(capacity = 64) {
    this.buf = Buffer.allocUnsafe(capacity)
  }

  private room(n: number): number {
    if (this.len + n > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n))
      this.buf.copy(next, 0, 0, this.len)
      this.buf = next
    }
    const at = this.len
    this.len += n
    return at
  }

  u8(v: number): this {
    checkInt('u8', v, 0, 0xff)
    this.buf[this.room(1)] = v
    return this
  }

  u16(v: number): this {
    checkInt('u16', v, 0, 0xffff)
    writeU16(this.buf, v, this.room(2))
    return this
  }

  u32(v: number): this {
    checkInt('u32', v, 0, 0xffffffff)
    writeU32(this.buf, v, this.room(4))
    return this
  }

  i32(v: number): this {
    checkInt('i32', v, -0x80000000, 0x7fffffff)
    const at = this.room(4)
    if (little) this.buf.writeInt32LE(v, at)
    else this.buf.writeInt32BE(v, at)
    return this
  }

  u64(v: bigint | number): this {
    const b = BigInt(v)
    if (b < 0n || b > 0xffffffffffffffffn) throw new PayloadError(`u64 out of range: ${v}`)
    const at = this.room(8)
    if (little) this.buf.writeBigUInt64LE(b, at)
    else this.buf.writeBigUInt64BE(b, at)
    return this
  }

  i64(v: bigint | number): this {
    const b = BigInt(v)
    if (b < -(2n ** 63n) || b >= 2n ** 63n) throw new PayloadError(`i64 out of range: ${v}`)
    const at = this.room(8)
    if (little) this.buf.writeBigInt64LE(b, at)
    else this.buf.writeBigInt64BE(b, at)
    return this
  }

  /** UTF-8 bytes and a terminating NUL. The string itself may not contain NUL. */
  string(s: string): this {
    const bytes = Buffer.from(s, 'utf8')
    if (bytes.includes(0)) throw new PayloadError('string contains a NUL byte')
    const at = this.room(bytes.length + 1)
    bytes.copy(this.buf, at)
    this.buf[at + bytes.length] = 0
    return this
  }

  /** A char[size] field: the string, NUL-terminated, zero-filled; it must leave room for the NUL. */
  fixedString(s: string, size: number): this {
    const bytes = Buffer.from(s, 'utf8')
    if (bytes.includes(0)) throw new PayloadError('string contains a NUL byte')
    if (bytes.length >= size)
      throw new PayloadError(`string of ${bytes.length} bytes does not fit char[${size}]`)
    const at = this.room(size)
    this.buf.fill(0, at, at + size)
    bytes.copy(this.buf, at)
    return this
  }

  bytes(data: Uint8Array): this {
    this.buf.set(data, this.room(data.length))
    return this
  }

  /** n zero bytes (struct padding). */
  pad(n: number): this {
    const at = this.room(n)
    this.buf.fill(0, at, at + n)
    return this
  }

  get length(): number {
    return this.len
  }

  /** The payload written so far (a copy, safe to keep). */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len))
  }
}

function checkInt(what: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) throw new PayloadError(`${what} out of range: ${v}`)
}

export class PayloadReader {
  private readonly buf: Buffer
  private off = 0

  constructor(payload: Uint8Array) {
    this.buf = Buffer.isBuffer(payload)
      ? payload
      : Buffer.from(payload.buffer, payload.byteOffset, payload.length)
  }

  /** Bytes not read yet. */
  get remaining(): number {
    return this.buf.length - this.off
  }

  private take(n: number, what: string): number {
    if (this.buf.length - this.off < n)
      throw new PayloadError(
        `short payload: ${what} needs ${n} bytes at offset ${this.off}, ${this.remaining} left`,
      )
    const at = this.off
    this.off += n
    return at
  }

  u8(): number {
    return this.buf[this.take(1, 'u8')]!
  }

  u16(): number {
    return readU16(this.buf, this.take(2, 'u16'))
  }

  u32(): number {
    return readU32(this.buf, this.take(4, 'u32'))
  }

  i32(): number {
    return readI32(this.buf, this.take(4, 'i32'))
  }

  u64(): bigint {
    const at = this.take(8, 'u64')
    return little ? this.buf.readBigUInt64LE(at) : this.buf.readBigUInt64BE(at)
  }

  i64(): bigint {
    const at = this.take(8, 'i64')
    return little ? this.buf.readBigInt64LE(at) : this.buf.readBigInt64BE(at)
  }

  /** A NUL-terminated UTF-8 string; the NUL is consumed. */
  string(): string {
    const nul = this.buf.indexOf(0, this.off)
    if (nul < 0) throw new PayloadError(`string at offset ${this.off} has no terminating NUL`)
    const s = this.buf.toString('utf8', this.off, nul)
    this.off = nul + 1
    return s
  }

  /** A char[size] field: must contain a NUL; bytes after it are ignored. */
  fixedString(size: number): string {
    const at = this.take(size, `char[${size}]`)
    const nul = this.buf.indexOf(0, at)
    if (nul < 0 || nul >= at + size)
      throw new PayloadError(`char[${size}] at offset ${at} is not NUL-terminated`)
    return this.buf.toString('utf8', at, nul)
  }

  /** n raw bytes (a view into the payload). */
  bytes(n: number): Buffer {
    const at = this.take(n, `${n} bytes`)
    return this.buf.subarray(at, at + n)
  }

  /** Every byte left (a view); the reader is then at its end. */
  rest(): Buffer {
    const at = this.off
    this.off = this.buf.length
    return this.buf.subarray(at)
  }

  skip(n: number): this {
    this.take(n, `${n} bytes of padding`)
    return this
  }

  /** Fails unless every byte was read. */
  end(): void {
    if (this.off !== this.buf.length)
      throw new PayloadError(`${this.remaining} unexpected byte(s) left at the end of the payload`)
  }
}
