/**
 * @poolp/privsep: declare an OpenBSD-style privilege-separated daemon, and start it.
 *
 * Nouns: a *daemon* is one parent and named *children*; each child is the same program
 * re-executed with its role on the command line, optionally as another *user* inside a
 * *chroot*. Two processes that declared each other (talksTo, either side) share a
 * *channel*: an @poolp/ipcmsg socketpair. Every process runs the same declarations;
 * start() takes the parent's branch or the child's.
 *
 * The functions below act on one daemon per program, as go-privsep's do; `new Privsep()`
 * or defineDaemon() give others.
 */
import type { MessageHandler } from './channel.js'
import { Privsep, type StartOptions } from './privsep.js'
import type { EntryPoint, PrivsepProcess } from './process.js'

export type { Message, MessageHandler, QueryOptions, SendOptions } from './channel.js'
export { type ChildSpec, type DaemonSpec, defineDaemon, type ProcessSpec } from './declarative.js'
export {
  BadRoleError,
  DeclarationError,
  isPrivsepError,
  PrivdropError,
  PrivsepError,
  type PrivsepErrorCode,
  StartupError,
  StateError,
  UndeclaredPeerError,
  UnknownProcessError,
} from './errors.js'
export { type Logger, log } from './log.js'
export { Privsep, type StartOptions } from './privsep.js'
export { type EntryPoint, type Hook, PrivsepProcess } from './process.js'

const daemon = new Privsep()

/** The daemon the module-level functions act on. */
export const defaultDaemon: Privsep = daemon

export const parent = (name: string, main: EntryPoint): PrivsepProcess => daemon.parent(name, main)
export const child = (name: string, main: EntryPoint): PrivsepProcess => daemon.child(name, main)
export const getProcess = (name: string): PrivsepProcess => daemon.getProcess(name)
export const getParent = (): PrivsepProcess => daemon.getParent()
export const getCurrentProcess = (): PrivsepProcess => daemon.getCurrentProcess()
export const start = (options?: StartOptions): Promise<void> => daemon.start(options)
export const stop = (reason?: string): void => daemon.stop(reason)

/** Shorthand for getProcess(peer).setHandler(type, handler). */
export const setHandler = (peer: string, type: number, handler: MessageHandler): PrivsepProcess =>
  daemon.getProcess(peer).setHandler(type, handler)
