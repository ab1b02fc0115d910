import { FrameDecoder } from './decoder.js'
import {
  ChannelClosedError,
  ChannelError,
  IpcmsgError,
  MessageTooLargeError,
  PayloadError,
  PeerClosedError,
  ProtocolError,
  QueryAbortedError,
  QueueFullError,
} from './errors.js'
import { Message } from './message.js'
import { addon, type ChannelHandle, type SystemError } from './native.js'
import { QueryTable } from './queries.js'
import {
  DEFAULT_MAX_MESSAGE_SIZE,
  type Dialect,
  type DialectName,
  dialectByName,
  HEADER_SIZE,
  writeHeader,
} from './wire.js'

export interface ChannelOptions {
  /** Header dialect, chosen per channel; both ends must agree. Default 'classic'. */
  dialect?: DialectName
  /** Largest message, header included, sent or accepted. Default 16384 (imsg's MAX_IMSGSIZE). */
  maxMessageSize?: number
  /**
   * 'query' (default): query() picks peerids and a reply is matched by its
   * peerid. 'application': peerid is the application's (a protocol version,
   * an instance id); query() is refused and every message goes to handlers.
   */
  peerids?: 'query' | 'application'
  /** A message with no handler (and not a reply) is a protocol error. Default false: dropped. */
  strict?: boolean
  /** The pid field of sent messages unless given per message. Default process.pid. */
  pid?: number
  /** message() returns false once this many bytes wait to be sent. Default 1 MiB. */
  highWaterMark?: number
  /** Sending past this many queued bytes throws QueueFullError. Default 16 MiB. */
  maxQueuedBytes?: number
  /** Sending an fd while this many wait to be sent throws QueueFullError. Default 1024. */
  maxQueuedFds?: number
  /** Reading pauses while this many async handlers are unsettled. Default 1024. */
  maxPendingHandlers?: number
  /** Printable names for types, used in errors and Message.name. */
  typeName?: (type: number) => string | undefined
}

export interface SendOptions {
  /** A descriptor to pass. The channel owns it from this call on and closes it once sent. */
  fd?: number
  /** Send a duplicate of fd and leave the caller's fd open. */
  keepFd?: boolean
  peerid?: number
  pid?: number
}

export interface QueryOptions {
  fd?: number
  keepFd?: boolean
  pid?: number
  /** Milliseconds to wait for the reply. Default: no limit. */
  timeout?: number
  signal?: AbortSignal
}

export interface ReplyOptions {
  fd?: number
  keepFd?: boolean
  pid?: number
}

/**
 * Called for each message of its type, in arrival order. The handler owns
 * msg.fd. A thrown error (or a rejected promise) closes the channel; a thrown
 * PayloadError becomes a ProtocolError naming the message.
 */
export type Handler = (msg: Message, channel: Channel) => void | Promise<void>

// Small frames are copied into one batch and sent with one syscall per turn
// of the event loop; larger ones go out as [header, payload] without a copy.
const BATCH_SIZE = 64 * 1024
const COPY_LIMIT = 8 * 1024
const EMPTY = Buffer.alloc(0)

function checkU32(what: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
    throw new RangeError(`ipcmsg: ${what} must be an integer in 0..4294967295, got ${v}`)
  return v
}

function checkPid(v: number): number {
  if (!Number.isInteger(v) || v < -0x80000000 || v > 0xffffffff)
    throw new RangeError(`ipcmsg: pid must be a 32-bit integer, got ${v}`)
  return v
}

/**
 * One end of an imsg channel over a connected UNIX stream socket. The socket
 * belongs to the native addon from construction on; close() closes it.
 */
export class Channel {
  /** The header dialect this channel speaks. */
  readonly dialect: DialectName
  private readonly wire: Dialect
  readonly maxMessageSize: number
  private readonly sock: ChannelHandle
  private readonly decoder: FrameDecoder
  private readonly handlers = new Map<number, Handler>()
  private fallback: Handler | undefined
  private readonly strict: boolean
  private readonly appPeerids: boolean
  private readonly pid: number
  private readonly highWaterMark: number
  private readonly maxQueuedBytes: number
  private readonly maxPendingHandlers: number
  private readonly maxQueuedFds: number
  private readonly nameOf: (type: number) => string | undefined

  private open = true
  private reading = false
  private paused = false
  private endError: Error | undefined
  private readonly done: { promise: Promise<void>; resolve(): void; reject(err: Error): void }

  private batch = Buffer.allocUnsafe(BATCH_SIZE)
  private batchLen = 0
  private flushQueued = false
  private nativeQueued = 0
  private drainWaiters: { resolve(): void; reject(err: Error): void }[] = []

  private readonly queries = new QueryTable()
  private handlersRunning = 0

  /** Wraps a connected stream socket fd; the channel owns it from here on. */
  static fromFd(fd: number, options: ChannelOptions = {}): Channel {
    return new Channel(fd, options)
  }

  /** Connects to a listening UNIX socket at path. */
  static connect(path: string, options: ChannelOptions = {}): Channel {
    let fd: number
    try {
      fd = addon.connect(path)
    } catch (err) {
      throw new ChannelError(`ipcmsg: cannot connect to ${path}: ${(err as Error).message}`, { cause: err })
    }
    return new Channel(fd, options)
  }

  /** Two connected channels in this process (a socketpair). */
  static pair(options: ChannelOptions = {}): [Channel, Channel] {
    const [a, b] = addon.socketpair()
    return [new Channel(a, options), new Channel(b, options)]
  }

  constructor(fd: number, options: ChannelOptions = {}) {
    this.wire = dialectByName(options.dialect ?? 'classic')
    this.dialect = this.wire.name
    const max = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE
    if (!Number.isInteger(max) || max < HEADER_SIZE || max > this.wire.maxLength)
      throw new RangeError(
        `ipcmsg: maxMessageSize must be ${HEADER_SIZE}..${this.wire.maxLength} in the ${this.wire.name} dialect, got ${max}`,
      )
    this.maxMessageSize = max
    let kind: string
    try {
      kind = addon.fdKind(fd)
    } catch (err) {
      throw new ChannelError(`ipcmsg: fd ${fd}: ${(err as Error).message}`, { cause: err })
    }
    if (kind !== 'socket') throw new ChannelError(`ipcmsg: fd ${fd} is a ${kind}, not a socket`)
    this.strict = options.strict ?? false
    this.appPeerids = options.peerids === 'application'
    this.pid = checkPid(options.pid ?? process.pid)
    this.highWaterMark = options.highWaterMark ?? 1024 * 1024
    this.maxQueuedBytes = Math.max(options.maxQueuedBytes ?? 16 * 1024 * 1024, this.highWaterMark, max)
    this.maxPendingHandlers = options.maxPendingHandlers ?? 1024
    this.maxQueuedFds = options.maxQueuedFds ?? 1024
    this.nameOf = options.typeName ?? (() => undefined)
    this.decoder = new FrameDecoder(this.wire, max, (t) => this.typeName(t))

    let resolve!: () => void
    let reject!: (err: Error) => void
    const promise = new Promise<void>((res, rej) => {
      resolve = res
      reject = rej
    })
    // The outcome waits for whoever calls dispatch(); an error nobody asked
    // about must not become an unhandled rejection that ends the process.
    promise.catch(() => {})
    this.done = { promise, resolve, reject }

    this.sock = addon.channelOpen(
      fd,
      (buf, fds, truncated) => this.onRead(buf, fds, truncated),
      () => this.onDrain(),
      (err) => this.onSystemError(err),
    )
  }

  private readonly namer = (type: number): string => this.typeName(type)

  /** "NAME (type N)" when the type has a name, else "type N". */
  typeName(type: number): string {
    const name = this.nameOf(type)
    return name ? `${name} (type ${type})` : `type ${type}`
  }

  /** Sets the handler for a type (replacing any). */
  handle(type: number, handler: Handler): this {
    this.handlers.set(checkU32('type', type), handler)
    return this
  }

  /** Handles every message no other handler takes (instead of dropping it or, when strict, failing). */
  handleUnknown(handler: Handler): this {
    this.fallback = handler
    return this
  }

  /**
   * Starts reading. Resolves when the peer closes the channel (or close() is
   * called), rejects with the error that closed it otherwise.
   */
  dispatch(): Promise<void> {
    this.startReading()
    return this.done.promise
  }

  /** True until the channel is closed, by either side or an error. */
  get isOpen(): boolean {
    return this.open
  }

  /** Bytes accepted by message() and not yet handed to the kernel. */
  get queuedBytes(): number {
    return this.nativeQueued + this.batchLen
  }

  /**
   * Sends a message. Returns false when the send queue is past its high-water
   * mark (highWaterMark bytes, or half of maxQueuedFds descriptors): await
   * drain() before sending more. Throws MessageTooLargeError, QueueFullError
   * or ChannelClosedError without taking the fd.
   */
  message(type: number, data?: Uint8Array, options: SendOptions = {}): boolean {
    const peerid = options.peerid === undefined ? 0 : checkU32('peerid', options.peerid)
    this.send(type, data ?? EMPTY, peerid, options.pid, options.fd, options.keepFd ?? false)
    return this.belowHighWaterMark(options.fd !== undefined)
  }

  private belowHighWaterMark(sentFd: boolean): boolean {
    if (this.queuedBytes >= this.highWaterMark) return false
    return !sentFd || addon.channelQueuedFds(this.sock) < this.maxQueuedFds >> 1
  }

  /**
   * Sends a message and resolves with the peer's reply: the first message
   * carrying this query's peerid whose type has no handler here.
   */
  query(type: number, data?: Uint8Array, options: QueryOptions = {}): Promise<Message> {
    if (this.appPeerids)
      return Promise.reject(
        new TypeError(
          'ipcmsg: query() needs peerids: "query"; this channel leaves peerid to the application',
        ),
      )
    const signal = options.signal
    if (signal?.aborted)
      return Promise.reject(
        new QueryAbortedError(`ipcmsg: ${this.typeName(type)}: query aborted`, { cause: signal.reason }),
      )
    const { peerid, promise } = this.queries.open(this.typeName(type), options.timeout, signal)
    try {
      this.send(type, data ?? EMPTY, peerid, options.pid, options.fd, options.keepFd ?? false)
    } catch (err) {
      this.queries.fail(peerid, err as Error)
      return promise
    }
    this.startReading()
    return promise
  }

  /** Answers msg: a message of the given type carrying msg's peerid. */
  reply(msg: Message, type: number, data?: Uint8Array, options: ReplyOptions = {}): boolean {
    this.send(type, data ?? EMPTY, msg.peerid, options.pid, options.fd, options.keepFd ?? false)
    return this.belowHighWaterMark(options.fd !== undefined)
  }

  /** Resolves once everything sent so far has reached the kernel. */
  drain(): Promise<void> {
    if (!this.open) return Promise.reject(this.closedError())
    this.flush()
    if (this.nativeQueued === 0) return Promise.resolve()
    return new Promise((resolve, reject) => this.drainWaiters.push({ resolve, reject }))
  }

  /**
   * Closes the channel now: unsent messages are dropped (their fds closed),
   * pending queries reject with ChannelClosedError, dispatch() resolves.
   * Call drain() first to deliver what was sent.
   */
  close(): void {
    this.finish(undefined, new ChannelClosedError('ipcmsg: channel closed'))
  }

  /** Lets the process exit while this channel is open (as net.Socket.unref). */
  unref(): this {
    addon.channelUnref(this.sock)
    return this
  }

  ref(): this {
    addon.channelRef(this.sock)
    return this
  }

  private startReading(): void {
    if (this.reading || !this.open) return
    this.reading = true
    if (!this.paused) addon.channelReadStart(this.sock)
  }

  private closedError(): Error {
    return this.endError ?? new ChannelClosedError('ipcmsg: channel closed')
  }

  private send(
    type: number,
    data: Uint8Array,
    peerid: number,
    pid: number | undefined,
    fd: number | undefined,
    keep: boolean,
  ): void {
    checkU32('type', type)
    const senderPid = pid === undefined ? this.pid : checkPid(pid)
    if (!(data instanceof Uint8Array)) throw new TypeError('ipcmsg: message data must be a Uint8Array')
    if (fd !== undefined && (!Number.isInteger(fd) || fd < 0))
      throw new TypeError(`ipcmsg: fd must be a descriptor number, got ${fd}`)
    const len = HEADER_SIZE + data.length
    if (len > this.maxMessageSize)
      throw new MessageTooLargeError(
        `ipcmsg: ${this.typeName(type)}: ${len} bytes exceeds the channel's maximum of ${this.maxMessageSize}`,
      )
    if (!this.open) throw this.closedError()
    if (this.queuedBytes + len > this.maxQueuedBytes)
      throw new QueueFullError(
        `ipcmsg: ${this.typeName(type)}: send queue full (${this.queuedBytes} bytes waiting; the peer is not reading)`,
      )
    if (fd === undefined && len <= COPY_LIMIT) {
      if (this.batchLen + len > BATCH_SIZE) this.flush()
      writeHeader(this.wire, this.batch, this.batchLen, type, len, peerid, senderPid, false)
      this.batch.set(data, this.batchLen + HEADER_SIZE)
      this.batchLen += len
      if (!this.flushQueued) {
        this.flushQueued = true
        queueMicrotask(() => this.flush())
      }
      return
    }
    this.flush()
    if (!this.open) throw this.closedError()
    // Queued fds are descriptors held open in this process: bound them too.
    if (fd !== undefined && addon.channelQueuedFds(this.sock) >= this.maxQueuedFds)
      throw new QueueFullError(
        `ipcmsg: ${this.typeName(type)}: ${this.maxQueuedFds} fds already wait to be sent (the peer is not reading)`,
      )
    const header = Buffer.allocUnsafe(HEADER_SIZE)
    writeHeader(this.wire, header, 0, type, len, peerid, senderPid, fd !== undefined)
    this.write(data.length > 0 ? [header, data] : [header], fd ?? -1, keep, true)
  }

  private flush(): void {
    this.flushQueued = false
    if (this.batchLen === 0 || !this.open) return
    const n = this.batchLen
    this.batchLen = 0
    this.write([this.batch.subarray(0, n)], -1, false, false)
  }

  /**
   * Hands bytes to the addon. A socket failure closes the channel (and throws when asked);
   * a message that could not be queued (EMFILE duplicating a kept fd) throws ChannelError
   * and leaves the channel open, nothing of that message sent.
   */
  private write(bufs: Uint8Array[], fd: number, keep: boolean, rethrow: boolean): void {
    try {
      this.nativeQueued = addon.channelWrite(this.sock, bufs, fd, keep)
    } catch (err) {
      const e = err as SystemError & { fatal?: boolean }
      // A batch of messages that could not be queued is lost: fatal for the channel.
      if (!e.fatal && rethrow) throw new ChannelError(`ipcmsg: message not sent: ${e.message}`, { cause: e })
      this.onSystemError(e)
      if (rethrow) throw this.closedError()
    }
  }

  private onDrain(): void {
    this.nativeQueued = 0
    const waiters = this.drainWaiters
    this.drainWaiters = []
    for (const w of waiters) w.resolve()
  }

  private onSystemError(err: SystemError): void {
    if (err.code === 'EPIPE' || err.code === 'ECONNRESET')
      this.finish(
        undefined,
        new PeerClosedError(`ipcmsg: peer closed the channel (${err.code})`, { cause: err }),
      )
    else this.finish(new ChannelError(`ipcmsg: ${err.message}`, { cause: err }))
  }

  private onRead(buf: Buffer | null, fds: number[] | undefined, truncated: boolean): void {
    if (!this.open) {
      if (fds) for (const fd of fds) addon.close(fd)
      return
    }
    if (buf === null) {
      const partial = this.decoder.pendingBytes
      const detail = partial > 0 ? `, ${partial} bytes of an unfinished message dropped` : ''
      this.finish(undefined, new PeerClosedError(`ipcmsg: peer closed the channel${detail}`))
      return
    }
    if (fds) this.decoder.addFds(fds)
    if (truncated) {
      this.finish(
        new ProtocolError(
          'ipcmsg: a passed fd was lost: the kernel truncated the control data (out of descriptors, or more than one fd in one sendmsg)',
        ),
      )
      return
    }
    try {
      this.decoder.push(buf, this.onFrame)
    } catch (err) {
      this.finish(err as Error)
    }
  }

  private readonly onFrame = (
    type: number,
    peerid: number,
    pid: number,
    payload: Buffer,
    fd: number | undefined,
  ): void => {
    if (!this.open) {
      if (fd !== undefined) addon.close(fd)
      return
    }
    const handler = this.handlers.get(type)
    if (handler === undefined && !this.appPeerids) {
      if (
        this.queries.size > 0 &&
        this.queries.resolve(peerid, new Message(type, peerid, pid, payload, fd, this.namer))
      )
        return
      if (this.queries.isLate(peerid)) {
        // A reply that came after its query gave up: nobody wants it.
        if (fd !== undefined) addon.close(fd)
        return
      }
    }
    const h = handler ?? this.fallback
    if (h === undefined) {
      if (fd !== undefined) addon.close(fd)
      if (this.strict) throw new ProtocolError(`ipcmsg: ${this.typeName(type)}: unexpected message`, type)
      return
    }
    const msg = new Message(type, peerid, pid, payload, fd, this.namer)
    let result: void | Promise<void>
    try {
      result = h(msg, this)
    } catch (err) {
      throw this.handlerError(msg, err)
    }
    if (result && typeof (result as Promise<void>).then === 'function') {
      this.handlersRunning++
      if (this.handlersRunning >= this.maxPendingHandlers && !this.paused) {
        this.paused = true
        addon.channelReadStop(this.sock)
      }
      ;(result as Promise<void>).then(
        () => this.handlerSettled(),
        (err) => {
          this.handlerSettled()
          this.finish(this.handlerError(msg, err))
        },
      )
    }
  }

  private handlerSettled(): void {
    this.handlersRunning--
    if (this.paused && this.handlersRunning <= this.maxPendingHandlers >> 1) {
      this.paused = false
      if (this.reading && this.open) addon.channelReadStart(this.sock)
    }
  }

  private handlerError(msg: Message, err: unknown): Error {
    if (err instanceof PayloadError)
      return new ProtocolError(`ipcmsg: ${msg.name}: ${err.message}`, msg.type, { cause: err })
    return err instanceof Error ? err : new Error(String(err))
  }

  /**
   * Closes the channel once. With `error`, dispatch rejects with it; without,
   * dispatch resolves and waiting queries reject with `reason`.
   */
  private finish(error: Error | undefined, reason?: ChannelClosedError): void {
    if (!this.open) return
    this.open = false
    const why = error ?? reason ?? new ChannelClosedError('ipcmsg: channel closed')
    this.endError =
      error instanceof IpcmsgError || error === undefined
        ? why
        : new ChannelClosedError(`ipcmsg: channel closed: ${error.message}`, { cause: error })
    this.batchLen = 0
    addon.channelClose(this.sock)
    this.decoder.closeFds()
    this.queries.rejectAll(this.endError)
    const waiters = this.drainWaiters
    this.drainWaiters = []
    for (const w of waiters) w.reject(this.endError)
    if (error) this.done.reject(error)
    else this.done.resolve()
  }
}
