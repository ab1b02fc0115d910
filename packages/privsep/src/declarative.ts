/**
 * The whole daemon in one object, beside the go-privsep-shaped calls. defineDaemon builds a
 * Privsep from it with those same calls, so both forms behave the same and are validated
 * the same way at start().
 */
import type { MessageHandler } from './channel.js'
import { Privsep } from './privsep.js'
import type { EntryPoint, Hook } from './process.js'

export interface ProcessSpec {
  readonly main: EntryPoint
  /** Handlers this process installs before dispatch: peer name -> message type -> handler. */
  readonly handlers?: Readonly<Record<string, Readonly<Record<number, MessageHandler>>>>
  readonly preStart?: Hook
}

export interface ChildSpec extends ProcessSpec {
  readonly talksTo?: readonly string[]
  readonly username?: string
  readonly chrootPath?: string
  readonly preChroot?: Hook
}

export interface DaemonSpec {
  readonly parent: ProcessSpec & { readonly name: string; readonly talksTo?: readonly string[] }
  /** Children by name, started in this order. */
  readonly children: Readonly<Record<string, ChildSpec>>
}

export function defineDaemon(spec: DaemonSpec, daemon: Privsep = new Privsep()): Privsep {
  const declare = (
    name: string,
    proc: ReturnType<Privsep['child']>,
    s: ProcessSpec & { talksTo?: readonly string[] },
  ) => {
    if (s.talksTo !== undefined) proc.talksTo(...s.talksTo)
    const handlers = s.handlers
    if (handlers !== undefined || s.preStart !== undefined) {
      proc.preStartHandler(async () => {
        for (const [peer, byType] of Object.entries(handlers ?? {})) {
          for (const [type, handler] of Object.entries(byType)) {
            daemon.getProcess(peer).setHandler(Number(type), handler)
          }
        }
        await s.preStart?.()
      })
    }
    return name
  }
  declare(spec.parent.name, daemon.parent(spec.parent.name, spec.parent.main), spec.parent)
  for (const [name, child] of Object.entries(spec.children)) {
    const proc = daemon.child(name, child.main)
    declare(name, proc, child)
    proc.username = child.username
    proc.chrootPath = child.chrootPath
    if (child.preChroot !== undefined) proc.preChrootHandler(child.preChroot)
  }
  return daemon
}
