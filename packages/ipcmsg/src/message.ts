import { addon } from './native.js'

/**
 * A received message. The receiver owns `fd`: close it (closeFd) or hand it
 * on. `payload` is a view into the channel's read buffer; copy it to keep it
 * past the handler if memory matters (it pins the whole read chunk).
 */
export class Message {
  readonly type: number
  readonly peerid: number
  /** The sender's pid field as pid_t (signed). */
  readonly pid: number
  readonly payload: Buffer
  readonly fd: number | undefined
  /** Printable name of the type (from the channel's catalog, else "type N"). */
  readonly name: string

  constructor(
    type: number,
    peerid: number,
    pid: number,
    payload: Buffer,
    fd: number | undefined,
    name: string,
  ) {
    this.type = type
    this.peerid = peerid
    this.pid = pid
    this.payload = payload
    this.fd = fd
    this.name = name
  }

  /** Closes the attached fd, if any. Safe to call once. */
  closeFd(): void {
    if (this.fd !== undefined) addon.close(this.fd)
  }
}
