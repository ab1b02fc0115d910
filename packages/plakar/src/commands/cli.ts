import { availableParallelism } from 'node:os'
import { CliError, isPlakarError } from '../errors.js'
import { defaultCpus } from '../repository/index.js'
import { errnoText, isErrno, isSystemError } from '../snapshot/errno.js'
import { defaultLocation } from '../storage/index.js'
import { type AnyCommand, EXIT, parseFlags, renderHelp } from './command.js'
import { Context, type Io, type RepositoryProvider } from './context.js'
import { help, overview } from './help.js'
import { findCommand } from './registry.js'

/**
 * The plakar command line:
 *   plakar [-cpu N] [-no-cache] [-keyfile FILE] [on|at REPOSITORY] COMMAND [ARGS]
 * main() parses it, runs the command, and turns every error a user can cause into one line
 * on stderr and an exit status (0 ok, 1 error, 2 usage, 3 partial). An error that is not a
 * PlakarError nor a system error is a bug: it is rethrown and shows its stack.
 */
export async function main(
  argv: readonly string[],
  io: Io,
  repositories: RepositoryProvider,
): Promise<number> {
  let name = ''
  try {
    let cpus = defaultCpus(availableParallelism())
    let cpusGiven = false
    let noCache = false
    let keyfile: string | undefined
    let repository: string | undefined
    let i = 0
    for (; i < argv.length; i++) {
      const a = argv[i]!
      const [flag, inline] = splitFlag(a)
      const value = () => {
        if (inline !== undefined) return inline
        if (i + 1 >= argv.length) throw globalUsage(`flag ${flag} needs a value`)
        return argv[++i]!
      }
      if (flag === '-cpu') {
        const v = value()
        cpus = Number(v)
        cpusGiven = true
        if (!/^\d+$/.test(v) || cpus < 1 || cpus > 1024)
          throw globalUsage(`-cpu ${v}: expected a number from 1`)
      } else if (flag === '-no-cache') noCache = true
      else if (flag === '-keyfile') keyfile = value()
      else if (flag === '-h' || flag === '-help') {
        io.stdout.write(overview())
        return EXIT.OK
      } else if (a === 'on' || a === 'at') {
        if (repository !== undefined) throw globalUsage(`${a}: repository given twice`)
        if (i + 1 >= argv.length || argv[i + 1] === '') throw globalUsage(`${a}: expected a REPOSITORY`)
        repository = argv[++i]!
      } else if (a.startsWith('-') && a !== '-') throw globalUsage(`unknown flag ${a}`)
      else break
    }
    name = argv[i] ?? ''
    if (name === '') throw globalUsage('no command given')
    const command: AnyCommand | undefined = name === 'help' ? help : findCommand(name)
    if (command === undefined) throw globalUsage(`unknown command ${name}`)
    const parsed = parseFlags(command.name, command.flags, argv.slice(i + 1))
    if (parsed.flags.get('help') === true) {
      io.stdout.write(renderHelp(command))
      return EXIT.OK
    }
    const options = command.parse(parsed)
    const ctx = new Context(
      {
        repository: repository ?? defaultLocation(io.env),
        cpus,
        cpusGiven,
        noCache,
        keyfile,
        argv: ['plakar', ...argv],
      },
      io,
      repositories,
    )
    return await command.run(ctx, options)
  } catch (err) {
    return report(io, name, err)
  }
}

/** `-flag=value` or `--flag=value` as ['-flag', 'value']. */
function splitFlag(a: string): [string, string | undefined] {
  if (!a.startsWith('-')) return [a, undefined]
  const body = a.replace(/^--?/, '-')
  const eq = body.indexOf('=')
  return eq < 0 ? [body, undefined] : [body.slice(0, eq), body.slice(eq + 1)]
}

function report(io: Io, name: string, err: unknown): number {
  const line = (s: string) => io.stderr.write(`plakar: ${s}\n`)
  if (isPlakarError(err, 'CLI_USAGE')) {
    // One line: what is wrong, and where the usage is.
    const known = name === 'help' ? help : findCommand(name)
    line(`${err.message} (see "plakar help${known ? ` ${known.name}` : ''}")`)
    return EXIT.USAGE
  }
  if (isPlakarError(err)) {
    line(err.message)
    return EXIT.ERROR
  }
  if (isErrno(err, 'EPIPE')) return EXIT.OK
  if (isSystemError(err)) {
    const path = (err as NodeJS.ErrnoException).path
    line(path ? `${path}: ${errnoText(err)}` : errnoText(err))
    return EXIT.ERROR
  }
  throw err
}

function globalUsage(message: string): CliError {
  return new CliError('CLI_USAGE', message)
}
