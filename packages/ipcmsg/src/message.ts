import { addon } from './native.js'

/**
 * A received message. The receiver owns `fd`: close it (closeFd) or hand it
 * on. `payload` is a view into the channel's read buffer, valid as long as it
 * is referenced; copy it (Buffer.from) to keep a small part of a large read
 * without pinning the whole read.
 */
export class Message {
  readonly type: number
  readonly peerid: number
  /** The sender's pid field as pid_t (signed). */
  readonly pid: number
  readonly payload: Buffer
  readonly fd: number | undefined
  private readonly namer: (type: number) => string

  constructor(
    type: number,
    peerid: number,
    pid: number,
    payload: Buffer,
    fd: number | undefined,
    namer: (type: number) => string,
  ) {
    this.type = type
    this.peerid = peerid
    this.pid = pid
    this.payload = payload
    this.fd = fd
    this.namer = namer
  }

  /** Printable name of the type: "NAME (type N)" from the channel's typeName, else "type N". */
  get name(): string {
    return this.namer(this.type)
  }

  /** Closes the attached fd, if any. Call it once. */
  closeFd(): void {
    if (this.fd !== undefined) addon.close(this.fd)
  }
}
