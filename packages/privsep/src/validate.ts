/**
 * The whole declaration, checked before anything starts. Each problem is one line that
 * names the process it is about; every problem is reported, not only the first, so a user
 * fixes a declaration in one round (parse.y's way: keep going, fail once at the end).
 */
import { chrootProblem } from './chroot-check.js'
import type { UserEntry } from './users.js'

/** What validation needs to know about one declared process. */
export interface DeclaredProcess {
  readonly name: string
  readonly isParent: boolean
  readonly main: unknown
  readonly talksTo: readonly string[]
  readonly username: string | undefined
  readonly chrootPath: string | undefined
  /** How often the name was declared; more than once is a problem. */
  readonly declarations: number
}

export interface ValidationEnv {
  /** Effective uid of the process that calls start(). */
  readonly euid: number
  readonly lookupUser: (name: string) => UserEntry | undefined
  readonly chrootProblem: (path: string) => string | undefined
}

export const defaultValidationEnv = (lookupUser: (name: string) => UserEntry | undefined): ValidationEnv => ({
  euid: process.geteuid?.() ?? -1,
  lookupUser,
  chrootProblem,
})

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/

export function validate(processes: readonly DeclaredProcess[], env: ValidationEnv): string[] {
  const problems: string[] = []
  const names = new Set(processes.map((p) => p.name))
  const parents = processes.filter((p) => p.isParent)
  if (parents.length === 0) problems.push('no parent process is declared: call parent(name, main)')
  if (parents.length > 1) {
    problems.push(`more than one parent is declared: ${parents.map((p) => `"${p.name}"`).join(', ')}`)
  }
  const needsRoot = processes.some((p) => p.username !== undefined || p.chrootPath !== undefined)
  if (needsRoot && env.euid !== 0) {
    problems.push(`privilege separation requires root privileges (running as uid ${env.euid})`)
  }

  for (const p of processes) {
    const kind = p.isParent ? 'parent' : 'child'
    const it = `${kind} "${p.name}"`
    if (!NAME.test(p.name)) {
      problems.push(
        `${it}: a process name is 1 to 64 letters, digits, "_", "." or "-" (not starting with "." or "-")`,
      )
    }
    if (p.declarations > 1) problems.push(`${it} is declared ${p.declarations} times`)
    if (typeof p.main !== 'function') problems.push(`${it} has no entry point (main must be a function)`)
    for (const peer of p.talksTo) {
      if (peer === p.name) problems.push(`${it} talks to itself`)
      else if (!names.has(peer)) problems.push(`${it} talks to "${peer}", which is not declared`)
    }
    if (p.isParent && (p.username !== undefined || p.chrootPath !== undefined)) {
      problems.push(`${it} keeps its privileges: it cannot have a username or a chrootPath`)
      continue
    }
    if (p.chrootPath !== undefined && p.username === undefined) {
      problems.push(`${it} has a chrootPath but no username: a process running as root can leave a chroot`)
    }
    if (env.euid !== 0) continue
    if (p.username !== undefined && env.lookupUser(p.username) === undefined) {
      problems.push(`${it}: user "${p.username}" does not exist`)
    }
    if (p.chrootPath !== undefined) {
      const problem = env.chrootProblem(p.chrootPath)
      if (problem !== undefined) problems.push(`${it}: ${problem}`)
    }
  }
  return problems
}
