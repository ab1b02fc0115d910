/**
 * A daemon: its declared processes, which one this process is, and this process's channels.
 *
 * Every process of the daemon runs the same main module and so builds the same Privsep;
 * start() then takes the parent's branch (no role on the command line) or the child's.
 */
import { basename, extname } from 'node:path'
import type { Channel } from './channel.js'
import { runChild } from './child.js'
import { isPrivsepError, StateError, UndeclaredPeerError, UnknownProcessError } from './errors.js'
import { log } from './log.js'
import { runParent } from './parent.js'
import { type EntryPoint, PrivsepProcess } from './process.js'
import { currentRole } from './role.js'

export interface StartOptions {
  /** The name in process titles (`<program>: <name>`); default: the main module's basename. */
  readonly program?: string
  /** Milliseconds children get to exit after SIGTERM before SIGKILL; default 5000. */
  readonly gracePeriod?: number
  /** Milliseconds every child gets to become ready; default 30000. */
  readonly readyTimeout?: number
  /**
   * On a bad declaration or a failed start, print one line and exit with status 1 (the
   * default, as a daemon does), or reject with the PrivsepError (false).
   */
  readonly exitOnError?: boolean
  /** Prefix console.* lines with the process name (default true). */
  readonly prefixConsole?: boolean
  /**
   * Printable names of the application's message types, used in errors. A message of a type
   * the receiving process has no handler for is fatal for it (OpenSMTPD's "unexpected imsg"),
   * and the error names the type with these.
   */
  readonly messageNames?: Readonly<Record<number, string>>
  /**
   * Largest message on the channels between peers, header included; default ipcmsg's 16384.
   * Over 65535 those channels use ipcmsg's 2024 dialect (u32 lengths), which both ends agree
   * on because every process is the same program; the queue each may hold grows with it
   * (four such messages, at least ipcmsg's default of 16 MiB).
   */
  readonly maxMessageSize?: number
}

export interface ResolvedStartOptions {
  readonly program: string
  readonly gracePeriod: number
  readonly readyTimeout: number
  readonly prefixConsole: boolean
  /** Options of every channel between peers (strict, with the message names). */
  readonly peerChannel: {
    readonly strict: true
    readonly typeName: (type: number) => string | undefined
    readonly maxMessageSize?: number
    readonly maxQueuedBytes?: number
    readonly dialect?: '2024'
  }
}

type State = 'declaring' | 'starting' | 'running'

function defaultProgram(): string {
  const main = process.argv[1]
  return main === undefined ? 'node' : basename(main, extname(main))
}

export class Privsep {
  readonly #processes = new Map<string, PrivsepProcess>()
  readonly #declared = new Map<string, number>()
  readonly #channels = new Map<string, Channel>()
  readonly #role: string | undefined
  #parentNames: string[] = []
  #state: State = 'declaring'
  #stopper: ((reason: string) => void) | undefined

  constructor(role: string | undefined = currentRole()) {
    this.#role = role
  }

  /** Declares the parent: it keeps root, spawns the children and runs `main` once all are ready. */
  parent(name: string, main: EntryPoint): PrivsepProcess {
    this.#parentNames.push(name)
    return this.#declare(name, main, true)
  }

  /** Declares a child: re-executed with its role on the command line, then runs `main`. */
  child(name: string, main: EntryPoint): PrivsepProcess {
    return this.#declare(name, main, false)
  }

  #declare(name: string, main: EntryPoint, isParent: boolean): PrivsepProcess {
    this.assertDeclaring(isParent ? 'parent' : 'child')
    this.#declared.set(name, (this.#declared.get(name) ?? 0) + 1)
    const existing = this.#processes.get(name)
    if (existing !== undefined) return existing
    const proc = new PrivsepProcess(this, name, main, isParent)
    this.#processes.set(name, proc)
    return proc
  }

  getProcess(name: string): PrivsepProcess {
    const proc = this.#processes.get(name)
    if (proc === undefined) throw new UnknownProcessError(name)
    return proc
  }

  getParent(): PrivsepProcess {
    const name = this.#parentNames[0]
    if (name === undefined) throw new StateError('no parent process is declared')
    return this.getProcess(name)
  }

  /** The process this code runs in: known from the command line, before start() too. */
  getCurrentProcess(): PrivsepProcess {
    return this.#role === undefined ? this.getParent() : this.getProcess(this.#role)
  }

  /** True in a re-executed child, false in the parent. */
  get isChild(): boolean {
    return this.#role !== undefined
  }

  get processes(): readonly PrivsepProcess[] {
    return [...this.#processes.values()]
  }

  /** How many times each name was declared (validation reports a name declared twice). */
  declarations(name: string): number {
    return this.#declared.get(name) ?? 0
  }

  /** Every pair of processes with a channel, each once, in declaration order. */
  pairs(): [string, string][] {
    const seen = new Set<string>()
    const pairs: [string, string][] = []
    for (const proc of this.#processes.values()) {
      for (const peer of proc.peers) {
        if (peer === proc.name || !this.#processes.has(peer)) continue
        const key = [proc.name, peer].sort().join('\0')
        if (seen.has(key)) continue
        seen.add(key)
        pairs.push([proc.name, peer])
      }
    }
    return pairs
  }

  /** The names the current process has a channel with. */
  peersOf(name: string): string[] {
    return this.pairs().flatMap(([a, b]) => (a === name ? [b] : b === name ? [a] : []))
  }

  assertDeclaring(what: string): void {
    if (this.#state !== 'declaring')
      throw new StateError(`${what}() after start(): declarations are fixed once started`)
  }

  /** The current process's channel to `peer`; only declared pairs have one. */
  channelTo(peer: string): Channel {
    const me = this.getCurrentProcess().name
    if (!this.#processes.has(peer)) throw new UnknownProcessError(peer)
    if (peer === me || !this.peersOf(me).includes(peer)) throw new UndeclaredPeerError(me, peer)
    const channel = this.#channels.get(peer)
    if (channel === undefined) {
      throw new StateError(
        `the channel to "${peer}" does not exist yet: use it from a preStart handler, the entry point or later`,
      )
    }
    return channel
  }

  /** Installs the current process's channel to `peer` (start() does, once per pair). */
  attachChannel(peer: string, channel: Channel): void {
    this.#channels.set(peer, channel)
  }

  get channels(): ReadonlyMap<string, Channel> {
    return this.#channels
  }

  /**
   * Starts the daemon: in the parent, validates every declaration, re-executes one child
   * per declared child, hands out the channels, waits until every child is ready and runs
   * the parent's entry point; in a child, drops privileges and runs the child's. Resolves
   * when the entry point has returned (a daemon keeps running on its channels after that).
   */
  async start(options: StartOptions = {}): Promise<void> {
    if (
      options.maxMessageSize !== undefined &&
      !(Number.isSafeInteger(options.maxMessageSize) && options.maxMessageSize >= 1024)
    ) {
      throw new RangeError(
        `maxMessageSize must be an integer of at least 1024, not ${options.maxMessageSize}`,
      )
    }
    if (this.#state !== 'declaring') throw new StateError('start() was already called')
    this.#state = 'starting'
    const resolved: ResolvedStartOptions = {
      program: options.program ?? defaultProgram(),
      gracePeriod: options.gracePeriod ?? 5000,
      readyTimeout: options.readyTimeout ?? 30_000,
      prefixConsole: options.prefixConsole ?? true,
      peerChannel: {
        strict: true,
        typeName: (type) => options.messageNames?.[type],
        ...peerSizes(options.maxMessageSize),
      },
    }
    try {
      if (this.#role === undefined) await runParent(this, resolved, () => this.#running())
      else await runChild(this, this.#role, resolved, () => this.#running())
    } catch (err) {
      if (this.#role !== undefined && !isPrivsepError(err)) {
        // An application hook or entry point threw in a child: a bug, so show its stack,
        // with this process's prefix on every line, and let the parent notice the exit.
        log.error(err)
        process.exit(1)
      }
      if (options.exitOnError === false || !isPrivsepError(err)) throw err
      if (this.#role !== undefined) log.error(err.message)
      else for (const line of err.message.split('\n')) process.stderr.write(`${resolved.program}: ${line}\n`)
      process.exit(1)
    }
  }

  /**
   * Stops the daemon in order, as SIGTERM does: every child gets SIGTERM and the grace
   * period, then the parent exits with status 0 unless something failed. Parent only.
   */
  stop(reason = 'stop requested'): void {
    if (this.#stopper === undefined) throw new StateError('only a started parent can stop the daemon')
    this.#stopper(reason)
  }

  /** runParent installs how stop() reaches its supervisor. */
  setStopper(stopper: (reason: string) => void): void {
    this.#stopper = stopper
  }

  #running(): void {
    this.#state = 'running'
  }
}

/** Channel options for peer messages of up to `max` bytes (see StartOptions.maxMessageSize). */
function peerSizes(max: number | undefined) {
  if (max === undefined) return {}
  return {
    maxMessageSize: max,
    maxQueuedBytes: Math.max(16 << 20, 4 * max),
    ...(max > 0xffff && { dialect: '2024' as const }),
  }
}
