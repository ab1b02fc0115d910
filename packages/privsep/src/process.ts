/**
 * One declared process of a daemon, as every process of the daemon sees it.
 *
 * The same declarations run in the parent and in every child; a PrivsepProcess is a
 * process's view of one of them. Its hooks run only in the process it describes
 * (preChroot and preStart in that child), while message/query/setHandler act on the
 * channel between the *current* process and this one: `getProcess('lookup').query(...)`
 * in the dispatcher asks lookup.
 */

import type { Message as IpcMessage } from '@poolp/ipcmsg'
import {
  type Channel,
  type MessageHandler,
  peerMessage,
  type QueryOptions,
  type SendOptions,
} from './channel.js'

export type EntryPoint = () => unknown
export type Hook = () => unknown

/** What a PrivsepProcess needs from its daemon: the current process's channels. */
export interface ChannelSource {
  channelTo(peer: string): Channel
  assertDeclaring(what: string): void
}

export class PrivsepProcess {
  readonly name: string
  readonly isParent: boolean
  readonly main: EntryPoint
  /** The unprivileged user this child runs as; unset, it keeps the parent's ids. */
  username: string | undefined
  /** The directory this child is jailed in; needs a username too. */
  chrootPath: string | undefined
  /** The pid, once known: the parent knows every child's; a child knows its own and the parent's. */
  pid: number | undefined
  readonly #peers: string[] = []
  readonly #daemon: ChannelSource
  #preChroot: Hook | undefined
  #preStart: Hook | undefined

  constructor(daemon: ChannelSource, name: string, main: EntryPoint, isParent: boolean) {
    this.#daemon = daemon
    this.name = name
    this.main = main
    this.isParent = isParent
  }

  /** The processes this one has a channel with (either side declaring the pair is enough). */
  get peers(): readonly string[] {
    return this.#peers
  }

  talksTo(...names: string[]): this {
    this.#daemon.assertDeclaring('talksTo')
    for (const name of names) if (!this.#peers.includes(name)) this.#peers.push(name)
    return this
  }

  /** Runs in this child before chroot: the last moment to open files outside the jail. */
  preChrootHandler(hook: Hook): this {
    this.#daemon.assertDeclaring('preChrootHandler')
    this.#preChroot = hook
    return this
  }

  /** Runs in this process once privileges are dropped and channels exist, before dispatch. */
  preStartHandler(hook: Hook): this {
    this.#daemon.assertDeclaring('preStartHandler')
    this.#preStart = hook
    return this
  }

  get preChroot(): Hook | undefined {
    return this.#preChroot
  }

  get preStart(): Hook | undefined {
    return this.#preStart
  }

  /** Handles messages of `type` that this process sends to the current one. */
  setHandler(type: number, handler: MessageHandler): this {
    const name = this.name
    this.#daemon.channelTo(name).handle(type, (msg, channel) => handler(peerMessage(msg, name, channel)))
    return this
  }

  /**
   * Sends a message from the current process to this one. False means the channel's send
   * queue is past its high-water mark: await drain() before sending more.
   */
  message(type: number, data?: Uint8Array, options?: SendOptions): boolean {
    return this.#daemon.channelTo(this.name).message(type, data, options)
  }

  /** Asks this process and resolves with its reply. */
  query(type: number, data?: Uint8Array, options?: QueryOptions): Promise<IpcMessage> {
    return this.#daemon.channelTo(this.name).query(type, data, options)
  }

  /** Resolves once everything sent to this process has reached the kernel. */
  drain(): Promise<void> {
    return this.#daemon.channelTo(this.name).drain()
  }
}
