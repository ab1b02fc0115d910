/**
 * Errors of @poolp/privsep.
 *
 * Every error privsep raises on purpose is a PrivsepError. Its `code` (a PrivsepErrorCode) is
 * stable across releases: callers, scripts and tests branch on it, so a code is never renamed.
 * Its `name` is its class, the failure underneath (if any) is its `cause`, and its message is
 * meant for whoever runs the daemon. Each condition a caller branches on has its own subclass.
 * `isPrivsepError(err, code?)` also recognizes an error raised by another copy of the package
 * (src and dist loaded in one process), where `instanceof` fails. Anything else escaping
 * privsep is a bug and shows its stack.
 *
 * A DeclarationError's message has one line per problem, as its `problems` do.
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

  constructor(code: PrivsepErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }

  get [BRAND](): true {
    return true
  }
}

/** True for a PrivsepError (of `code`, when given), also one from another copy of the package. */
export function isPrivsepError<C extends PrivsepErrorCode>(
  err: unknown,
  code?: C,
): err is PrivsepError & { readonly code: C }
/** A code known only at run time (from a script, a table of cases); a literal must be a known code. */
export function isPrivsepError<S extends string>(
  err: unknown,
  code: string extends S ? S : never,
): err is PrivsepError
export function isPrivsepError(err: unknown, code?: string): boolean {
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

  constructor(message: string, options?: ErrorOptions) {
    super('PRIVSEP_PRIVDROP', message, options)
  }
}

export class StartupError extends PrivsepError {
  declare readonly code: 'PRIVSEP_STARTUP'

  constructor(message: string, options?: ErrorOptions) {
    super('PRIVSEP_STARTUP', message, options)
  }
}

export class BadRoleError extends PrivsepError {
  declare readonly code: 'PRIVSEP_BAD_ROLE'

  constructor(role: string) {
    super('PRIVSEP_BAD_ROLE', `started as child "${role}", but no such child is declared`)
  }
}
