/**
 * The whole daemon in one object, beside the go-privsep-shaped calls. defineDaemon makes
 * those same calls, so both forms behave alike and start() validates both the same way.
 */
import type { MessageHandler } from './channel.js'
import { Privsep } from './privsep.js'
import type { EntryPoint, Hook, PrivsepProcess } from './process.js'

export interface ProcessSpec {
  readonly main: EntryPoint
  readonly talksTo?: readonly string[]
  /** Installed in this process before dispatch: peer name -> message type -> handler. */
  readonly handlers?: Readonly<Record<string, Readonly<Record<number, MessageHandler>>>>
  /** Runs after the handlers are installed. */
  readonly preStart?: Hook
}

export interface ChildSpec extends ProcessSpec {
  readonly username?: string
  readonly chrootPath?: string
  readonly preChroot?: Hook
}

export interface DaemonSpec {
  readonly parent: ProcessSpec & { readonly name: string }
  /** The children by name, spawned in this order. */
  readonly children: Readonly<Record<string, ChildSpec>>
}

function declare(daemon: Privsep, proc: PrivsepProcess, spec: ProcessSpec): void {
  if (spec.talksTo !== undefined) proc.talksTo(...spec.talksTo)
  const { handlers, preStart } = spec
  if (handlers === undefined && preStart === undefined) return
  proc.preStartHandler(async () => {
    for (const [peer, byType] of Object.entries(handlers ?? {})) {
      for (const [type, handler] of Object.entries(byType))
        daemon.getProcess(peer).setHandler(Number(type), handler)
    }
    await preStart?.()
  })
}

/** A Privsep declared from `spec` (on `daemon`, the module-level one for instance, if given). */
export function defineDaemon(spec: DaemonSpec, daemon: Privsep = new Privsep()): Privsep {
  declare(daemon, daemon.parent(spec.parent.name, spec.parent.main), spec.parent)
  for (const [name, child] of Object.entries(spec.children)) {
    const proc = daemon.child(name, child.main)
    declare(daemon, proc, child)
    proc.username = child.username
    proc.chrootPath = child.chrootPath
    if (child.preChroot !== undefined) proc.preChrootHandler(child.preChroot)
  }
  return daemon
}
