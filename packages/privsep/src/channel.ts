/**
 * What privsep takes from @poolp/ipcmsg, in one place: channels over socketpairs with fd
 * passing, and the POSIX calls Node lacks (socketpair, chroot, getpwnam, the parent-death
 * signal and a live getppid).
 *
 * Contract relied on: a Channel owns its fd; handlers set before dispatch() see every
 * message; dispatch() resolves when the peer closes and rejects on a protocol error;
 * sending an fd hands it over (the sender's copy is closed); socketpair ends are
 * close-on-exec, so a re-executed child inherits only the fd it is given.
 */
import { inspect } from 'node:util'
import {
  Channel,
  type Message as IpcMessage,
  type QueryOptions,
  type ReplyOptions,
  type SendOptions,
} from '@poolp/ipcmsg'

export {
  Channel,
  chroot,
  getppid,
  getpwnam,
  setCloexec,
  setParentDeathSignal,
  socketpair,
} from '@poolp/ipcmsg'
export type { QueryOptions, ReplyOptions, SendOptions }

/** A message from a peer process, as a privsep handler receives it. */
export interface Message extends IpcMessage {
  /** The name of the process that sent it. */
  readonly from: string
  /** Answers it on the same channel: a message of `type` carrying its peerid. */
  reply(type: number, data?: Uint8Array, options?: ReplyOptions): boolean
}

export type MessageHandler = (msg: Message) => void | Promise<void>

/** Gives `msg` its sender's name and a reply() bound to the channel it came on. */
export function peerMessage(msg: IpcMessage, from: string, channel: Channel): Message {
  const m = msg as IpcMessage & { from: string; reply: Message['reply'] }
  m.from = from
  m.reply = (type, data, options) => channel.reply(msg, type, data, options)
  return m
}

export function openChannel(fd: number, options: ConstructorParameters<typeof Channel>[1] = {}): Channel {
  return Channel.fromFd(fd, options)
}

/**
 * Why a channel failed, for a log line: the message of an ipcmsg error (the peer broke the
 * protocol or went away), the whole stack of anything else (a handler threw: a bug).
 */
export function channelFailure(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string' && code.startsWith('IPCMSG_')) return (err as Error).message
  return inspect(err)
}

/**
 * True for the error a pending query or send gets when its peer went away. A channel
 * between peers closes only when one of them exits, so the daemon is going down: the
 * parent reports the process that died and stops the others, and this one waits for it
 * instead of failing (which would blame the wrong process and the exit status).
 */
export function isPeerGone(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return code === 'IPCMSG_PEER_CLOSED' || code === 'IPCMSG_CLOSED'
}
