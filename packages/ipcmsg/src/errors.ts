/**
 * Every error ipcmsg raises is an IpcmsgError with a stable `code`. Callers
 * branch on the subclass (or the code); system errors from the socket reach
 * them as the `cause` of a ChannelError.
 */
export abstract class IpcmsgError extends Error {
  abstract readonly code: string
}

/**
 * The peer sent something this channel cannot accept: a short, oversized or
 * malformed frame, an fd flag without an fd, an unknown type on a strict
 * channel, or a payload a handler rejected. Fatal for the channel, as in
 * OpenBSD daemons; `type` names the offending message when one was framed.
 */
export class ProtocolError extends IpcmsgError {
  readonly code = 'IPCMSG_PROTOCOL'
  readonly type: number | undefined

  constructor(message: string, type?: number, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ProtocolError'
    this.type = type
  }
}

/** A payload field could not be read or written as declared. */
export class PayloadError extends IpcmsgError {
  readonly code = 'IPCMSG_PAYLOAD'

  constructor(message: string) {
    super(message)
    this.name = 'PayloadError'
  }
}

/** A message larger than the channel's maximum was refused before sending. */
export class MessageTooLargeError extends IpcmsgError {
  readonly code = 'IPCMSG_TOO_LARGE'

  constructor(message: string) {
    super(message)
    this.name = 'MessageTooLargeError'
  }
}

/** The send queue is at its hard bound: the peer is not reading. */
export class QueueFullError extends IpcmsgError {
  readonly code = 'IPCMSG_QUEUE_FULL'

  constructor(message: string) {
    super(message)
    this.name = 'QueueFullError'
  }
}

/**
 * The channel is closed, or was closed while a query waited: by close(), by
 * the peer going away (PeerClosedError), or by an error (its `cause`).
 */
export class ChannelClosedError extends IpcmsgError {
  readonly code: string = 'IPCMSG_CLOSED'

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ChannelClosedError'
  }
}

/** The peer closed its end or vanished (EOF, EPIPE, ECONNRESET). */
export class PeerClosedError extends ChannelClosedError {
  override readonly code = 'IPCMSG_PEER_CLOSED'

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'PeerClosedError'
  }
}

/** A socket call failed for a reason other than the peer going away. */
export class ChannelError extends IpcmsgError {
  readonly code = 'IPCMSG_SYSTEM'

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ChannelError'
  }
}

/** A query got no reply within its timeout. */
export class QueryTimeoutError extends IpcmsgError {
  readonly code = 'IPCMSG_TIMEOUT'

  constructor(message: string) {
    super(message)
    this.name = 'QueryTimeoutError'
  }
}

/** A query's AbortSignal fired; `cause` is the signal's reason. */
export class QueryAbortedError extends IpcmsgError {
  readonly code = 'IPCMSG_ABORTED'

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'QueryAbortedError'
  }
}
