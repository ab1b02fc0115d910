import { ProtocolError } from './errors.js'
import { addon } from './native.js'
import { type Dialect, HEADER_SIZE, readI32, readU32 } from './wire.js'

/** Receives each complete frame; payload is a view, fd is handed over. */
export type FrameSink = (
  type: number,
  peerid: number,
  pid: number,
  payload: Buffer,
  fd: number | undefined,
) => void

/**
 * Cuts the received byte stream into frames and gives descriptors to flagged
 * frames in arrival order. The kernel hands over an fd with the first byte of
 * the sendmsg that carried it, and a conforming sender starts that sendmsg
 * with the flagged frame's header: so when a flagged header is complete its fd
 * has already arrived, and an fd left over once every byte is framed was sent
 * without a flag. Both are protocol errors. Every fd the decoder still holds
 * is closed by closeFds().
 */
export class FrameDecoder {
  private readonly dialect: Dialect
  private readonly maxSize: number
  private readonly typeName: (type: number) => string
  private fds: number[] = []
  /** The incomplete frame carried over from earlier chunks: carried of carryLen bytes. */
  private carry: Buffer | null = null
  private carried = 0
  private carryLen = 0
  private readonly lenOut = { hasFd: false }

  constructor(dialect: Dialect, maxSize: number, typeName: (type: number) => string) {
    this.dialect = dialect
    this.maxSize = maxSize
    this.typeName = typeName
  }

  /** Bytes received that do not yet make a whole frame. */
  get pendingBytes(): number {
    return this.carried
  }

  addFds(fds: number[]): void {
    for (const fd of fds) this.fds.push(fd)
  }

  /** Closes every descriptor not yet given to a frame. */
  closeFds(): void {
    for (const fd of this.fds) {
      try {
        addon.close(fd)
      } catch {
        // Already gone: nothing left to release.
      }
    }
    this.fds = []
  }

  /** Frames what it can of chunk; throws ProtocolError on bad input. */
  push(chunk: Buffer, sink: FrameSink): void {
    let off = 0
    if (this.carry) {
      off = this.fillCarry(chunk, sink)
      if (off < 0) return
    }
    const end = chunk.length
    while (end - off >= HEADER_SIZE) {
      const len = this.frameLength(chunk, off)
      if (end - off < len) break
      this.emit(chunk, off, len, sink)
      off += len
    }
    if (off < end) this.startCarry(chunk, off)
    else this.checkStrayFds()
  }

  /**
   * Keeps the unfinished frame at the end of chunk, in a buffer of the whole
   * frame's size once its header is known, so each carried byte is copied once.
   */
  private startCarry(chunk: Buffer, off: number): void {
    const have = chunk.length - off
    this.carryLen = have >= HEADER_SIZE ? this.frameLength(chunk, off) : HEADER_SIZE
    this.carry = Buffer.allocUnsafe(this.carryLen)
    chunk.copy(this.carry, 0, off)
    this.carried = have
  }

  /**
   * Feeds the carried frame from the start of chunk. Returns the offset where
   * whole frames start in chunk, or -1 when chunk was all consumed.
   */
  private fillCarry(chunk: Buffer, sink: FrameSink): number {
    let off = 0
    if (this.carried < HEADER_SIZE) {
      off = Math.min(HEADER_SIZE - this.carried, chunk.length)
      chunk.copy(this.carry!, this.carried, 0, off)
      this.carried += off
      if (this.carried < HEADER_SIZE) return -1
      const len = this.frameLength(this.carry!, 0)
      if (len > HEADER_SIZE) {
        const whole = Buffer.allocUnsafe(len)
        this.carry!.copy(whole, 0, 0, HEADER_SIZE)
        this.carry = whole
      }
      this.carryLen = len
    }
    const n = Math.min(this.carryLen - this.carried, chunk.length - off)
    chunk.copy(this.carry!, this.carried, off, off + n)
    this.carried += n
    off += n
    if (this.carried < this.carryLen) return -1
    const frame = this.carry!
    this.carry = null
    this.carried = 0
    this.emit(frame, 0, this.carryLen, sink)
    if (off === chunk.length) {
      this.checkStrayFds()
      return -1
    }
    return off
  }

  /** Validates the header at off and returns the frame's total length. */
  private frameLength(buf: Buffer, off: number): number {
    const len = this.dialect.readLength(buf, off + 4, this.lenOut)
    if (len < 0) {
      const type = readU32(buf, off)
      throw new ProtocolError(
        `ipcmsg: ${this.typeName(type)}: unknown header flags in ${this.dialect.name} dialect`,
        type,
      )
    }
    if (len < HEADER_SIZE) {
      const type = readU32(buf, off)
      throw new ProtocolError(
        `ipcmsg: ${this.typeName(type)}: length ${len} is shorter than the ${HEADER_SIZE}-byte header`,
        type,
      )
    }
    if (len > this.maxSize) {
      const type = readU32(buf, off)
      throw new ProtocolError(
        `ipcmsg: ${this.typeName(type)}: length ${len} exceeds the channel's maximum of ${this.maxSize} bytes`,
        type,
      )
    }
    return len
  }

  private emit(buf: Buffer, off: number, len: number, sink: FrameSink): void {
    const type = readU32(buf, off)
    this.dialect.readLength(buf, off + 4, this.lenOut)
    let fd: number | undefined
    if (this.lenOut.hasFd) {
      fd = this.fds.shift()
      if (fd === undefined)
        throw new ProtocolError(
          `ipcmsg: ${this.typeName(type)}: flagged as carrying an fd but none was received`,
          type,
        )
    }
    sink(type, readU32(buf, off + 8), readI32(buf, off + 12), buf.subarray(off + HEADER_SIZE, off + len), fd)
  }

  private checkStrayFds(): void {
    if (this.fds.length > 0)
      throw new ProtocolError(
        `ipcmsg: received ${this.fds.length} fd(s) that no message was flagged to carry`,
      )
  }
}
