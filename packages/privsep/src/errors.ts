/**
 * Errors of @poolp/privsep.
 *
 * Every error raised on purpose is a PrivsepError with a stable `code` (tests and callers
 * branch on it; never rename one). Its message is one line meant for whoever runs the
 * daemon; anything without a code is a bug and shows its stack.
 */
const BRAND = Symbol.for('@poolp/privsep:PrivsepError')

export type PrivsepErrorCode =
  /** The declaration is wrong (unknown peer, missing entry point, bad user or chroot). */
  | 'PRIVSEP_DECLARATION'
  /** A process addressed a process it did not declare as a peer. */
  | 'PRIVSEP_UNDECLARED_PEER'
  /** A name that is not declared at all. */
  | 'PRIVSEP_UNKNOWN_PROCESS'
  /** start() called twice, or a declaration changed after start(). */
  | 'PRIVSEP_STATE'
  /** chroot or dropping privileges failed, or root could be regained. */
  | 'PRIVSEP_PRIVDROP'
  /** A child failed to start, to become ready, or the control protocol broke. */
  | 'PRIVSEP_STARTUP'
  /** This process was started with a role argument that names no declared child. */
  | 'PRIVSEP_BAD_ROLE'

export class PrivsepError extends Error {
  readonly code: PrivsepErrorCode

  constructor(code: PrivsepErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }

  get [BRAND](): true {
    return true
  }
}

/** True for a PrivsepError, also one raised by another copy of the package (src and dist). */
export function isPrivsepError(err: unknown, code?: PrivsepErrorCode): err is PrivsepError {
  if (typeof err !== 'object' || err === null || !(BRAND in err)) return false
  return code === undefined || (err as PrivsepError).code === code
}

/**
 * The whole declaration was checked and is wrong. `problems` holds one line per bad
 * declaration, in declaration order; the message is those lines joined by newlines.
 */
export class DeclarationError extends PrivsepError {
  declare readonly code: 'PRIVSEP_DECLARATION'
  readonly problems: readonly string[]

  constructor(problems: readonly string[]) {
    super('PRIVSEP_DECLARATION', problems.join('\n'))
    this.problems = problems
  }
}

/** `from` tried to reach `to` without either of them declaring the pair with talksTo. */
export class UndeclaredPeerError extends PrivsepError {
  declare readonly code: 'PRIVSEP_UNDECLARED_PEER'

  constructor(from: string, to: string) {
    super('PRIVSEP_UNDECLARED_PEER', `process "${from}" has no channel to "${to}": declare it with talksTo`)
  }
}

export class UnknownProcessError extends PrivsepError {
  declare readonly code: 'PRIVSEP_UNKNOWN_PROCESS'

  constructor(name: string) {
    super('PRIVSEP_UNKNOWN_PROCESS', `no process named "${name}" is declared`)
  }
}

export class StateError extends PrivsepError {
  declare readonly code: 'PRIVSEP_STATE'

  constructor(message: string) {
    super('PRIVSEP_STATE', message)
  }
}

export class PrivdropError extends PrivsepError {
  declare readonly code: 'PRIVSEP_PRIVDROP'

  constructor(message: string, options?: { cause?: unknown }) {
    super('PRIVSEP_PRIVDROP', message, options)
  }
}

export class StartupError extends PrivsepError {
  declare readonly code: 'PRIVSEP_STARTUP'

  constructor(message: string, options?: { cause?: unknown }) {
    super('PRIVSEP_STARTUP', message, options)
  }
}

export class BadRoleError extends PrivsepError {
  declare readonly code: 'PRIVSEP_BAD_ROLE'

  constructor(role: string) {
    super('PRIVSEP_BAD_ROLE', `started as child "${role}", but no such child is declared`)
  }
}
