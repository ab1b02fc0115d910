import { CliError } from '../errors.js'
import type { Context } from './context.js'

/**
 * A command is one file: its flags, its help text (with EXIT STATUS), a parse step from
 * arguments to typed options, and a run(ctx, options) that tests call without the parser.
 * Flags are single-dash words in the manner of plakar and Go (`-tag x`, `-tag=x`); `--`
 * ends them. run() returns the exit status (see EXIT in this file).
 */
export const EXIT = {
  OK: 0,
  /** Something failed: a clear message on stderr. */
  ERROR: 1,
  /** Bad command line: unknown command or flag, missing or extra argument. */
  USAGE: 2,
  /** push or pull finished, but some files could not be read or written (listed on stderr). */
  PARTIAL: 3,
  /** check ran to the end and found damage (listed on stdout). */
  DAMAGED: 4,
} as const

export interface FlagSpec {
  readonly name: string
  /** `bool` takes no value; `string` one value (the last wins); `list` may repeat. */
  readonly kind: 'bool' | 'string' | 'list'
  readonly arg?: string
  readonly help: string
}

export interface ParsedArgs {
  readonly flags: ReadonlyMap<string, string | boolean | string[]>
  readonly args: readonly string[]
}

export interface Command<O = unknown> {
  readonly name: string
  readonly aliases?: readonly string[]
  /** One line for `plakar help`. */
  readonly summary: string
  /** `push [-tag TAG] [-exclude PATTERN] PATH...` */
  readonly usage: string
  /** The description in `plakar help NAME` (flags and EXIT STATUS are added to it). */
  readonly help: string
  /** Exit statuses beyond 0, 1 and 2, e.g. `3  partial: ...`. */
  readonly exit?: readonly string[]
  readonly flags: readonly FlagSpec[]
  parse(parsed: ParsedArgs): O
  run(ctx: Context, options: O): Promise<number>
}

/** Any command, whatever its options (each one's parse feeds its own run). */
// biome-ignore lint/suspicious/noExplicitAny: a table of commands with different option types
export type AnyCommand = Command<any>

export function usageError(command: string, message: string): CliError {
  return new CliError('CLI_USAGE', `${command}: ${message}`)
}

/** Parse `args` against `specs`; `-h`/`-help` yields the flag `help`. */
export function parseFlags(command: string, specs: readonly FlagSpec[], args: readonly string[]): ParsedArgs {
  const flags = new Map<string, string | boolean | string[]>()
  const rest: string[] = []
  let i = 0
  for (; i < args.length; i++) {
    const a = args[i]!
    if (a === '--') {
      i++
      break
    }
    if (!a.startsWith('-') || a === '-') break
    const body = a.replace(/^--?/, '')
    const eq = body.indexOf('=')
    const name = eq < 0 ? body : body.slice(0, eq)
    if (name === 'h' || name === 'help') {
      flags.set('help', true)
      continue
    }
    const spec = specs.find((s) => s.name === name)
    if (spec === undefined) throw usageError(command, `unknown flag -${name}`)
    if (spec.kind === 'bool') {
      if (eq >= 0) throw usageError(command, `flag -${name} takes no value`)
      flags.set(name, true)
      continue
    }
    let value: string
    if (eq >= 0) value = body.slice(eq + 1)
    else {
      if (i + 1 >= args.length) throw usageError(command, `flag -${name} needs a value`)
      value = args[++i]!
    }
    if (spec.kind === 'list') {
      const list = (flags.get(name) as string[] | undefined) ?? []
      list.push(value)
      flags.set(name, list)
    } else flags.set(name, value)
  }
  for (; i < args.length; i++) rest.push(args[i]!)
  return { flags, args: rest }
}

export function flagString(p: ParsedArgs, name: string): string | undefined {
  const v = p.flags.get(name)
  return typeof v === 'string' ? v : undefined
}

export function flagList(p: ParsedArgs, name: string): string[] {
  const v = p.flags.get(name)
  return Array.isArray(v) ? v : []
}

export function flagBool(p: ParsedArgs, name: string): boolean {
  return p.flags.get(name) === true
}

/** The standard EXIT STATUS section; `extra` adds lines (e.g. status 3 for push). */
export function exitStatus(...extra: string[]): string {
  return [
    'EXIT STATUS',
    '  0  success',
    '  1  an error (message on stderr): repository, snapshot, passphrase, file',
    '  2  usage error: unknown command or flag, wrong arguments',
    ...extra.map((l) => `  ${l}`),
    '  130  interrupted (Ctrl-C): no snapshot is made, earlier ones are intact',
  ].join('\n')
}

/** Full help text for a command: usage, description, flags, exit status. */
export function renderHelp(c: Command): string {
  const lines = [`usage: plakar [on REPOSITORY] ${c.usage}`, '', c.help.trim(), '']
  if (c.aliases?.length) lines.push(`Also called: ${c.aliases.join(', ')}.`, '')
  if (c.flags.length > 0) {
    lines.push('FLAGS')
    const left = c.flags.map((f) => `-${f.name}${f.arg ? ` ${f.arg}` : ''}`)
    const w = Math.max(...left.map((l) => l.length))
    c.flags.forEach((f, i) => {
      lines.push(`  ${left[i]!.padEnd(w)}  ${f.help}`)
    })
    lines.push('')
  }
  lines.push(exitStatus(...(c.exit ?? [])), '')
  return lines.join('\n')
}
