import type { Diagnostic } from './diagnostic.js'
import { formatDiagnostics } from './diagnostic.js'

/**
 * Every error parsey throws is a ParseyError. A caller branches on the subclass
 * (or on `code`, which is stable across releases); anything else escaping
 * parsey is a bug in parsey or in a caller's builder that parsey failed to wrap.
 */
export abstract class ParseyError extends Error {
  abstract readonly code: string
}

/**
 * The input was rejected. Thrown once, at the end of a parse, carrying every
 * error found (and the warnings); `message` is the full printable report.
 */
export class ConfigurationError extends ParseyError {
  readonly code = 'PARSEY_CONFIGURATION'
  readonly errors: readonly Diagnostic[]
  readonly warnings: readonly Diagnostic[]

  constructor(errors: readonly Diagnostic[], warnings: readonly Diagnostic[] = []) {
    super(formatDiagnostics(errors))
    this.name = 'ConfigurationError'
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
  readonly code = 'PARSEY_USAGE'

  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}
