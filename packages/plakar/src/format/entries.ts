import { RepositoryError } from '../errors.js'
import { type BlobType, blobTypeCode, blobTypeFromCode } from './envelope.js'

/**
 * A blob's place in a pack, as pack headers and index objects both record it. Fixed-size
 * binary record, little-endian: type u8, id [32], offset u32, length u32, rawLength u32.
 */
export interface PackEntry {
  readonly type: BlobType
  readonly id: Uint8Array
  /** offset of the sealed blob in the pack */
  readonly offset: number
  /** sealed length in the pack */
  readonly length: number
  /** plaintext length */
  readonly rawLength: number
}

export const ENTRY_SIZE = 1 + 32 + 4 + 4 + 4

export function writeEntry(out: Buffer, at: number, e: PackEntry): number {
  out[at] = blobTypeCode(e.type)
  out.set(e.id, at + 1)
  out.writeUInt32LE(e.offset, at + 33)
  out.writeUInt32LE(e.length, at + 37)
  out.writeUInt32LE(e.rawLength, at + 41)
  return at + ENTRY_SIZE
}

export function readEntry(buf: Buffer, at: number, what: string): PackEntry {
  const type = blobTypeFromCode(buf[at]!)
  if (!type) throw new RepositoryError('REPO_CORRUPT', `${what}: unknown blob type ${buf[at]}`)
  return {
    type,
    id: Uint8Array.prototype.slice.call(buf, at + 1, at + 33),
    offset: buf.readUInt32LE(at + 33),
    length: buf.readUInt32LE(at + 37),
    rawLength: buf.readUInt32LE(at + 41),
  }
}

/** A strict reader: every read is bounds-checked and `end()` asserts nothing is left. */
export class Reader {
  private at = 0
  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}

  private need(n: number): void {
    if (this.at + n > this.buf.length) throw new RepositoryError('REPO_CORRUPT', `${this.what}: truncated`)
  }

  u8(): number {
    this.need(1)
    return this.buf[this.at++]!
  }

  u32(): number {
    this.need(4)
    const v = this.buf.readUInt32LE(this.at)
    this.at += 4
    return v
  }

  bytes(n: number): Uint8Array {
    this.need(n)
    const v = Uint8Array.prototype.slice.call(this.buf, this.at, this.at + n)
    this.at += n
    return v
  }

  entry(): PackEntry {
    this.need(ENTRY_SIZE)
    const e = readEntry(this.buf, this.at, this.what)
    this.at += ENTRY_SIZE
    return e
  }

  end(): void {
    if (this.at !== this.buf.length) throw new RepositoryError('REPO_CORRUPT', `${this.what}: trailing bytes`)
  }
}
