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
