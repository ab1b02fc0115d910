import { isPlakarError } from '../errors.js'

/** One line for a system error: `permission denied`, not Node's `EACCES: permission denied, open '...'`. */
export function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException
  if (typeof e?.code === 'string' && typeof e.message === 'string') {
    const m = /^[A-Z0-9_]+: ([^,]+)/.exec(e.message)
    if (m) return m[1]!
  }
  return err instanceof Error ? err.message : String(err)
}

export function isErrno(err: unknown, ...codes: string[]): boolean {
  const code = (err as NodeJS.ErrnoException)?.code
  return typeof code === 'string' && codes.includes(code)
}

/** An error from the operating system (has an errno code such as EACCES), not a bug. */
export function isSystemError(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException
  return typeof e?.code === 'string' && /^E[A-Z0-9]+$/.test(e.code)
}

/**
 * The one-line message recording a failure of one entry of a restore (a PlakarError's message,
 * a system error's text, another Error's message), or undefined when the error is a bug
 * (TypeError, RangeError, not an Error) that must not be swallowed as an entry's failure.
 */
export function failureText(err: unknown): string | undefined {
  if (isPlakarError(err)) return err.message
  if (isSystemError(err)) return errnoText(err)
  if (err instanceof Error && !(err instanceof TypeError) && !(err instanceof RangeError)) return err.message
  return undefined
}
