import { endianness } from 'node:os'

/**
 * imsg's 16-byte header, in host byte order (docs/ipcmsg-wire.md):
 *
 *   u32 type | length including the header (+ fd flag) | u32 peerid | u32 pid
 *
 * The two dialects differ only in the second word. Both are written here and
 * nowhere else.
 */
export const HEADER_SIZE = 16

/** imsg's MAX_IMSGSIZE: the default largest message, header included. */
export const DEFAULT_MAX_MESSAGE_SIZE = 16384

/** A dialect's view of the length word. Contract: decode(encode(x)) === x. */
export interface Dialect {
  /** Stable name, as given in ChannelOptions.dialect. */
  readonly name: DialectName
  /** The largest total length (header included) the dialect can express. */
  readonly maxLength: number
  /** Writes length and fd flag into the word at off (4 bytes). */
  writeLength(buf: Buffer, off: number, length: number, hasFd: boolean): void
  /**
   * Reads the word at off. Returns the length, and the fd flag in `hasFd`;
   * returns -1 when the word carries flags this dialect does not know.
   */
  readLength(buf: Buffer, off: number, out: { hasFd: boolean }): number
}

export type DialectName = 'classic' | '2024'

const little = endianness() === 'LE'

export const readU16 = little
  ? (b: Buffer, o: number) => b.readUInt16LE(o)
  : (b: Buffer, o: number) => b.readUInt16BE(o)
export const readU32 = little
  ? (b: Buffer, o: number) => b.readUInt32LE(o)
  : (b: Buffer, o: number) => b.readUInt32BE(o)
export const readI32 = little
  ? (b: Buffer, o: number) => b.readInt32LE(o)
  : (b: Buffer, o: number) => b.readInt32BE(o)
export const writeU16 = little
  ? (b: Buffer, v: number, o: number) => b.writeUInt16LE(v, o)
  : (b: Buffer, v: number, o: number) => b.writeUInt16BE(v, o)
export const writeU32 = little
  ? (b: Buffer, v: number, o: number) => b.writeUInt32LE(v, o)
  : (b: Buffer, v: number, o: number) => b.writeUInt32BE(v, o)

/** OpenBSD <= 7.6 and every imsg peer in Debian 12: u16 len, u16 flags (1 = fd). */
const classic: Dialect = {
  name: 'classic',
  maxLength: 0xffff,
  writeLength(buf, off, length, hasFd) {
    // len is the first u16 in memory, flags the second, each in host order.
    writeU16(buf, length, off)
    writeU16(buf, hasFd ? 1 : 0, off + 2)
  },
  readLength(buf, off, out) {
    const flags = readU16(buf, off + 2)
    if (flags > 1) return -1
    out.hasFd = flags === 1
    return readU16(buf, off)
  },
}

const FD_BIT = 0x80000000

/** OpenBSD 7.7 and later: u32 len whose bit 31 says an fd is attached. */
const dialect2024: Dialect = {
  name: '2024',
  maxLength: 0x7fffffff,
  writeLength(buf, off, length, hasFd) {
    writeU32(buf, (hasFd ? FD_BIT | length : length) >>> 0, off)
  },
  readLength(buf, off, out) {
    const word = readU32(buf, off)
    out.hasFd = word >= FD_BIT
    return word & 0x7fffffff
  },
}

const dialects: Record<DialectName, Dialect> = { classic, '2024': dialect2024 }

export function dialectByName(name: string): Dialect {
  const d = dialects[name as DialectName]
  if (!d) throw new TypeError(`ipcmsg: unknown dialect ${JSON.stringify(name)} (classic, 2024)`)
  return d
}

/** Writes a whole header at off. Fields are u32 on the wire; pid may be negative (pid_t). */
export function writeHeader(
  dialect: Dialect,
  buf: Buffer,
  off: number,
  type: number,
  length: number,
  peerid: number,
  pid: number,
  hasFd: boolean,
): void {
  writeU32(buf, type, off)
  dialect.writeLength(buf, off + 4, length, hasFd)
  writeU32(buf, peerid, off + 8)
  writeU32(buf, pid >>> 0, off + 12)
}
