/**
 * The parent's view of its children's lives, after OpenBSD's proc.c: a child that dies
 * takes the whole daemon down; a stop signals every child, waits a grace period, then
 * kills what is left; the parent exits only once every child is reaped, so nothing is left
 * a zombie or an orphan, and its exit status says whether anything failed.
 */
import type { ChildProcess } from 'node:child_process'
import { log } from './log.js'

interface Supervised {
  readonly name: string
  readonly child: ChildProcess
  exited: boolean
}

/** How a process ended, the way a user reads it. */
export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal !== null) return `killed by signal ${signal}`
  return `exited with status ${code ?? '?'}`
}

export interface SupervisorOptions {
  /** How long children get to exit after SIGTERM before SIGKILL, in ms. */
  readonly gracePeriod: number
  /** Called once, when every child has been reaped after a stop. */
  readonly onFinished: (failed: boolean) => void
}

export class Supervisor {
  readonly #children: Supervised[] = []
  readonly #options: SupervisorOptions
  #stopping = false
  #failed = false
  #graceTimer: NodeJS.Timeout | undefined
  #finished = false

  constructor(options: SupervisorOptions) {
    this.#options = options
  }

  get stopping(): boolean {
    return this.#stopping
  }

  add(name: string, child: ChildProcess): void {
    const entry: Supervised = { name, child, exited: false }
    this.#children.push(entry)
    child.on('exit', (code, signal) => this.#exited(entry, code, signal))
    child.on('error', (err) => {
      // Only a failed spawn matters here: kill() errors on a dead child are expected.
      if (child.pid !== undefined || entry.exited) return
      entry.exited = true
      this.stop(`cannot start child "${name}": ${err.message}`, true)
    })
  }

  /**
   * Begins an orderly stop (later calls only log a failure); `failed` sticks once any caller
   * sets it.
   */
  stop(reason: string, failed: boolean): void {
    if (failed) this.#failed = true
    if (this.#stopping) {
      if (failed) log.error(reason)
      return
    }
    this.#stopping = true
    if (failed) log.error(`${reason}; shutting down`)
    else log.info(`${reason}; shutting down`)
    for (const entry of this.#children) if (!entry.exited) entry.child.kill('SIGTERM')
    this.#graceTimer = setTimeout(() => this.#killRemaining(), this.#options.gracePeriod)
    this.#maybeFinished()
  }

  #killRemaining(): void {
    for (const entry of this.#children) {
      if (entry.exited) continue
      log.error(`child "${entry.name}" (pid ${entry.child.pid}) did not stop in time: killing it`)
      this.#failed = true
      entry.child.kill('SIGKILL')
    }
  }

  #exited(entry: Supervised, code: number | null, signal: NodeJS.Signals | null): void {
    entry.exited = true
    const how = describeExit(code, signal)
    if (!this.#stopping) {
      this.stop(`lost child "${entry.name}" (pid ${entry.child.pid}): ${how}`, true)
    } else {
      const clean = code === 0 || signal === 'SIGTERM'
      if (!clean && signal !== 'SIGKILL') {
        this.#failed = true
        log.error(`child "${entry.name}" (pid ${entry.child.pid}) ${how} while stopping`)
      } else {
        log.debug(`child "${entry.name}" (pid ${entry.child.pid}) ${how}`)
      }
    }
    this.#maybeFinished()
  }

  #maybeFinished(): void {
    if (this.#finished || !this.#stopping || this.#children.some((c) => !c.exited)) return
    this.#finished = true
    clearTimeout(this.#graceTimer)
    this.#options.onFinished(this.#failed)
  }
}
