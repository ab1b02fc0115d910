/**
 * Errors of @poolp/ipcmsg.
 *
 * Every error ipcmsg raises on purpose is an IpcmsgError. Its `code` (an IpcmsgErrorCode) is
 * stable across releases: callers, scripts and tests branch on it, so a code is never renamed.
 * Its `name` is its class, the failure underneath (if any) is its `cause`, and its message is
 * meant for a user. Each condition a caller branches on has its own subclass.
 * `isIpcmsgError(err, code?)` also recognizes an error raised by another copy of the package
 * (src and dist loaded in one process), where `instanceof` fails. Anything else escaping
 * ipcmsg is a bug and shows its stack.
 *
 * Socket failures reach callers as the `cause` of a ChannelError; a channel that ends because
 * of an error rejects its waiting queries with a ChannelClosedError whose `cause` it is.
 */
const BRAND = Symbol.for('@poolp/ipcmsg:IpcmsgError')

export type IpcmsgErrorCode =
  /** The peer sent something the channel cannot accept: ProtocolError. */
  | 'IPCMSG_PROTOCOL'
  /** A payload field could not be read or written: PayloadError. */
  | 'IPCMSG_PAYLOAD'
  /** A message over the channel's maximum: MessageTooLargeError. */
  | 'IPCMSG_TOO_LARGE'
  /** The send queue is full: QueueFullError. */
  | 'IPCMSG_QUEUE_FULL'
  /** The channel is closed: ChannelClosedError. */
  | 'IPCMSG_CLOSED'
  /** The peer closed its end: PeerClosedError, a ChannelClosedError. */
  | 'IPCMSG_PEER_CLOSED'
  /** A socket call failed: ChannelError. */
  | 'IPCMSG_SYSTEM'
  /** A query got no reply in time: QueryTimeoutError. */
  | 'IPCMSG_TIMEOUT'
  /** A query was aborted: QueryAbortedError. */
  | 'IPCMSG_ABORTED'

export class IpcmsgError extends Error {
  readonly code: IpcmsgErrorCode

  constructor(code: IpcmsgErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }

  get [BRAND](): true {
    return true
  }
}

/** True for an IpcmsgError (of `code`, when given), also one from another copy of the package. */
export function isIpcmsgError<C extends IpcmsgErrorCode>(
  err: unknown,
  code?: C,
): err is IpcmsgError & { readonly code: C }
/** A code known only at run time (from a script, a table of cases); a literal must be a known code. */
export function isIpcmsgError<S extends string>(
  err: unknown,
  code: string extends S ? S : never,
): err is IpcmsgError
export function isIpcmsgError(err: unknown, code?: string): boolean {
  if (typeof err !== 'object' || err === null || !(BRAND in err)) return false
  return code === undefined || (err as IpcmsgError).code === code
}

/**
 * The peer sent something this channel cannot accept: a short, oversized or
 * malformed frame, an fd flag without an fd, an unknown type on a strict
 * channel, or a payload a handler rejected. Fatal for the channel, as in
 * OpenBSD daemons; `type` names the offending message when one was framed.
 */
export class ProtocolError extends IpcmsgError {
  declare readonly code: 'IPCMSG_PROTOCOL'
  readonly type: number | undefined

  constructor(message: string, type?: number, options?: ErrorOptions) {
    super('IPCMSG_PROTOCOL', message, options)
    this.type = type
  }
}

/** A payload field could not be read or written as declared. */
export class PayloadError extends IpcmsgError {
  declare readonly code: 'IPCMSG_PAYLOAD'

  constructor(message: string) {
    super('IPCMSG_PAYLOAD', message)
  }
}

/** A message larger than the channel's maximum was refused before sending. */
export class MessageTooLargeError extends IpcmsgError {
  declare readonly code: 'IPCMSG_TOO_LARGE'

  constructor(message: string) {
    super('IPCMSG_TOO_LARGE', message)
  }
}

/** The send queue is at its hard bound: the peer is not reading. */
export class QueueFullError extends IpcmsgError {
  declare readonly code: 'IPCMSG_QUEUE_FULL'

  constructor(message: string) {
    super('IPCMSG_QUEUE_FULL', message)
  }
}

/**
 * The channel is closed, or was closed while a query waited: by close(), by
 * the peer going away (PeerClosedError), or by an error (its `cause`).
 */
export class ChannelClosedError extends IpcmsgError {
  declare readonly code: 'IPCMSG_CLOSED' | 'IPCMSG_PEER_CLOSED'

  constructor(message: string, options?: ErrorOptions) {
    super('IPCMSG_CLOSED', message, options)
  }
}

/** The peer closed its end or vanished (EOF, EPIPE, ECONNRESET). */
export class PeerClosedError extends ChannelClosedError {
  // A ChannelClosedError (whoever catches a closed channel catches this too) with its own code.
  override readonly code = 'IPCMSG_PEER_CLOSED'
}

/** A socket call failed for a reason other than the peer going away. */
export class ChannelError extends IpcmsgError {
  declare readonly code: 'IPCMSG_SYSTEM'

  constructor(message: string, options?: ErrorOptions) {
    super('IPCMSG_SYSTEM', message, options)
  }
}

/** A query got no reply within its timeout. */
export class QueryTimeoutError extends IpcmsgError {
  declare readonly code: 'IPCMSG_TIMEOUT'

  constructor(message: string) {
    super('IPCMSG_TIMEOUT', message)
  }
}

/** A query's AbortSignal fired; `cause` is the signal's reason. */
export class QueryAbortedError extends IpcmsgError {
  declare readonly code: 'IPCMSG_ABORTED'

  constructor(message: string, options?: ErrorOptions) {
    super('IPCMSG_ABORTED', message, options)
  }
}
