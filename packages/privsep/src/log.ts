/**
 * Log lines that say which process wrote them: `<name>[<pid>]: <text>`, one prefix per line
 * of a multi-line message. The daemon's own messages go to stderr through `log`; start()
 * also routes `console` through the same prefix so an application's lines carry it too.
 */
import { format } from 'node:util'

export interface Logger {
  info(...args: unknown[]): void
  warn(...args: unknown[]): void
  error(...args: unknown[]): void
  debug(...args: unknown[]): void
}

let processName = 'privsep'

/** Every later line carries `name`. Called once the process knows its role. */
export function setLogName(name: string): void {
  processName = name
}

export function prefixLines(text: string): string {
  const prefix = `${processName}[${process.pid}]: `
  return (
    text
      .split('\n')
      .map((line) => prefix + line)
      .join('\n') + '\n'
  )
}

function writer(stream: NodeJS.WriteStream): (...args: unknown[]) => void {
  return (...args) => {
    stream.write(prefixLines(format(...args)))
  }
}

/** The daemon's logger. Lines go to stderr, as OpenBSD daemons in the foreground do. */
export const log: Logger = {
  info: writer(process.stderr),
  warn: writer(process.stderr),
  error: writer(process.stderr),
  debug: (...args) => {
    if (process.env.PRIVSEP_DEBUG) writer(process.stderr)(...args)
  },
}

let consolePatched = false

/** Prefixes `console.log/info/debug` (stdout) and `console.warn/error` (stderr) lines. */
export function prefixConsole(): void {
  if (consolePatched) return
  consolePatched = true
  const out = writer(process.stdout)
  const err = writer(process.stderr)
  console.log = out
  console.info = out
  console.debug = out
  console.warn = err
  console.error = err
}
