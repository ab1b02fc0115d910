import type { Diagnostic } from './diagnostic.js'
import { formatDiagnostics } from './diagnostic.js'

/**
 * Errors of @poolp/parsey.
 *
 * Every error parsey raises on purpose is a ParseyError. Its `code` (a ParseyErrorCode) is
 * stable across releases: callers, scripts and tests branch on it, so a code is never renamed.
 * Its `name` is its class, the failure underneath (if any) is its `cause`, and its message is
 * meant for a user. Each condition a caller branches on has its own subclass.
 * `isParseyError(err, code?)` also recognizes an error raised by another copy of the package
 * (src and dist loaded in one process), where `instanceof` fails. Anything else escaping
 * parsey is a bug, in parsey or in a caller's builder that parsey failed to wrap, and shows
 * its stack.
 *
 * A ConfigurationError's message is the whole report; its `summary` is the one line.
 */
const BRAND = Symbol.for('@poolp/parsey:ParseyError')

export type ParseyErrorCode =
  /** The input was rejected: ConfigurationError. */
  | 'PARSEY_CONFIGURATION'
  /** The API was misused: UsageError. */
  | 'PARSEY_USAGE'

export class ParseyError extends Error {
  readonly code: ParseyErrorCode

  constructor(code: ParseyErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }

  get [BRAND](): true {
    return true
  }
}

/** True for a ParseyError (of `code`, when given), also one from another copy of the package. */
export function isParseyError<C extends ParseyErrorCode>(
  err: unknown,
  code?: C,
): err is ParseyError & { readonly code: C }
/** A code known only at run time (from a script, a table of cases); a literal must be a known code. */
export function isParseyError<S extends string>(
  err: unknown,
  code: string extends S ? S : never,
): err is ParseyError
export function isParseyError(err: unknown, code?: string): boolean {
  if (typeof err !== 'object' || err === null || !(BRAND in err)) return false
  return code === undefined || (err as ParseyError).code === code
}

/**
 * The input was rejected. Thrown once, at the end of a parse, carrying every
 * error found (and the warnings); `message` is the full printable report.
 */
export class ConfigurationError extends ParseyError {
  declare readonly code: 'PARSEY_CONFIGURATION'
  readonly errors: readonly Diagnostic[]
  readonly warnings: readonly Diagnostic[]

  constructor(errors: readonly Diagnostic[], warnings: readonly Diagnostic[] = []) {
    super('PARSEY_CONFIGURATION', formatDiagnostics(errors))
    this.errors = errors
    this.warnings = warnings
  }

  /** The first error as one line, `file:line:col: message`, for a terse exit message. */
  get summary(): string {
    const first = this.errors[0]
    if (!first) return 'configuration rejected'
    const more = this.errors.length > 1 ? ` (and ${this.errors.length - 1} more)` : ''
    return `${first.where()}: ${first.message}${more}`
  }
}

/**
 * The API was misused: a frozen grammar was changed, a pattern is malformed,
 * a caller-supplied macro has an invalid name. A programming error, not bad input.
 */
export class UsageError extends ParseyError {
  declare readonly code: 'PARSEY_USAGE'

  constructor(message: string) {
    super('PARSEY_USAGE', message)
  }
}
