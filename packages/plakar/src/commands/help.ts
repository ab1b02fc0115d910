import { type Command, EXIT, exitStatus, renderHelp, usageError } from './command.js'
import type { Context } from './context.js'
import { COMMANDS, findCommand } from './registry.js'

export const GLOBAL_USAGE =
  'usage: plakar [-cpu N] [-no-cache] [-keyfile FILE] [on REPOSITORY] COMMAND [ARGS]'

export interface HelpOptions {
  readonly command: string | undefined
}

/** The overview printed by `plakar help` and on a usage error without a command. */
export function overview(): string {
  const all = [...COMMANDS, help]
  const w = Math.max(...all.map((c) => c.name.length))
  return [
    GLOBAL_USAGE,
    '',
    'A deduplicating, encrypted backup tool. REPOSITORY is a directory path or fs:///path',
    '(files), sqlite:///path/file.db (one SQLite database), postgres://USER@HOST:PORT/DB',
    '[?schema=NAME] (PostgreSQL; password from PGPASSWORD or ~/.pgpass), or plakar://HOST:PORT',
    '(a plakar server); default ~/.plakar. "at" is accepted for "on". SNAPSHOT is a UUID,',
    'any unique prefix of one, or latest.',
    '',
    'GLOBAL FLAGS',
    '  -cpu N          worker threads for chunking, hashing, compression, encryption',
    '                  (default: CPUs minus one, at least one; the main thread also seals',
    '                  files while it would wait); at pull, for opening blobs and',
    '                  writing files (default: one per CPU)',
    '  -no-cache       do not use the local cache (~/.cache/plakar): every file is read',
    '  -keyfile FILE   read the passphrase from the first line of FILE',
    '',
    'ENVIRONMENT',
    '  PLAKAR_PASSPHRASE       the passphrase, when no -keyfile is given',
    "  PLAKAR_PEER_PASSPHRASE  sync: the other repository's, when no -peer-keyfile is given",
    '  PLAKAR_TOKEN            plakar://: the token (or PLAKAR_TOKEN_FILE: a file holding it)',
    '  PGPASSWORD              postgres://: the password (or ~/.pgpass)',
    '  XDG_CACHE_HOME          where the local cache lives (default ~/.cache)',
    '',
    'COMMANDS',
    ...all.map(
      (c) =>
        `  ${c.name.padEnd(w)}  ${c.summary}${c.aliases?.length ? ` (also: ${c.aliases.join(', ')})` : ''}`,
    ),
    '',
    'Run "plakar help COMMAND" for a command\'s flags and exit statuses.',
    '',
    exitStatus('3  partial: push or pull finished, but some files failed (see stderr)'),
    '',
  ].join('\n')
}

export async function runHelp(ctx: Context, opts: HelpOptions): Promise<number> {
  if (opts.command === undefined) {
    ctx.out(overview())
    return EXIT.OK
  }
  const c = opts.command === 'help' ? help : findCommand(opts.command)
  if (c === undefined) throw usageError('help', `unknown command ${opts.command}`)
  ctx.out(renderHelp(c))
  return EXIT.OK
}

export const help: Command<HelpOptions> = {
  name: 'help',
  summary: 'show help for plakar or a command',
  usage: 'help [COMMAND]',
  help: 'Without argument, list the commands. With COMMAND, show its usage, flags and exit statuses.',
  flags: [],
  parse(p) {
    if (p.args.length > 1) throw usageError('help', `unexpected argument ${p.args[1]}`)
    return { command: p.args[0] }
  },
  run: runHelp,
}
