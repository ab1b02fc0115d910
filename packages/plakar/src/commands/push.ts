import { resolve } from 'node:path'
import { ArchiveProgress, archive, FileCache, listHeaders } from '../snapshot/index.js'
import { type Command, EXIT, flagList, usageError } from './command.js'
import type { Context, OpenedRepository } from './context.js'
import { duration, humanSize } from './format.js'
import { ProgressLine } from './progress.js'
import { SizeScan } from './size-scan.js'

export interface PushOptions {
  readonly paths: readonly string[]
  readonly tags: readonly string[]
  readonly excludes: readonly string[]
}

export async function runPush(ctx: Context, opts: PushOptions): Promise<number> {
  return ctx.withRepository(async (repo) => {
    const paths = opts.paths.map((p) => resolve(ctx.io.cwd, p))
    const cacheDir = ctx.cacheDir()
    const cache = cacheDir !== null ? openFileCache(ctx, cacheDir, repo) : null
    const progress = new ArchiveProgress()
    const estimate = ctx.io.stderr.isTTY ? await expectedSize(repo, paths) : undefined
    const scan = ctx.io.stderr.isTTY && estimate === undefined ? new SizeScan(paths) : undefined
    const line = new ProgressLine(ctx.io.stderr, 'push', progress, () => estimate ?? scan?.total).start()
    const started = Date.now()
    try {
      const header = await archive(repo, {
        paths,
        excludes: opts.excludes,
        tags: opts.tags,
        commandLine: ctx.global.argv,
        cache,
        cpus: ctx.global.cpus,
        progress,
        onError: (path, message) => {
          line.stop()
          ctx.err(`plakar: push: ${path.toString()}: ${message}`)
          line.start()
        },
      })
      line.stop()
      if (cache?.failure !== undefined)
        ctx.err(
          `plakar: push: the local cache failed (${cache.failure}): the next push reads every file again`,
        )
      const c = header.counts
      const errors = c.errors > 0 ? `, ${c.errors} errors (partial)` : ''
      ctx.out(
        `push: snapshot ${header.uuid.slice(0, 8)}: ${c.files} files (${progress.cached} unchanged), ${c.dirs} directories, ` +
          `${humanSize(header.size)} (${humanSize(header.stored)} stored)${errors} in ${duration((Date.now() - started) / 1000)}\n`,
      )
      return c.errors > 0 ? EXIT.PARTIAL : EXIT.OK
    } finally {
      line.stop()
      scan?.stop()
      cache?.close()
    }
  })
}

/** The file-metadata cache, or null (with a warning) when the local cache cannot hold it. */
function openFileCache(ctx: Context, dir: string, repo: OpenedRepository): FileCache | null {
  try {
    return FileCache.forRepository(dir, repo)
  } catch (err) {
    ctx.err(`plakar: push: the local cache is unusable (${(err as Error).message}): every file is read`)
    return null
  }
}

/** The size of the newest snapshot of the same paths: the best guess for the ETA. */
async function expectedSize(repo: OpenedRepository, paths: string[]): Promise<number | undefined> {
  const want = [...paths].sort().join('\0')
  const all = await listHeaders(repo)
  for (let i = all.length - 1; i >= 0; i--) if (all[i]!.paths.join('\0') === want) return all[i]!.size
  return undefined
}

export const push: Command<PushOptions> = {
  name: 'push',
  aliases: ['backup'],
  summary: 'back up paths into a new snapshot',
  usage: 'push [-tag TAG] [-exclude PATTERN] PATH...',
  help: `Back up each PATH (files and directories, recursively) into one new snapshot and print
its id. Every kind of file is kept: regular (sparse ones with their holes), directories,
symlinks, hard links, FIFOs, device nodes, with mode, owner, group, mtime and extended
attributes; names are kept byte for byte. Files whose size, mtime, ctime and inode did not
change since the last backup on this machine are not read again (the local cache, see
-no-cache). A file that cannot be read, or vanishes, is reported on stderr and recorded
in the snapshot; the backup goes on and exits with status 3.

An -exclude PATTERN without a slash matches names (*.o, node_modules); with a slash, whole
absolute paths (/home/*/.cache). * and ? stay within one name, ** crosses directories.
Progress is shown on a terminal; a summary line is printed at the end.`,
  exit: ['3  partial: the snapshot was written, but some files could not be backed up'],
  flags: [
    { name: 'tag', kind: 'list', arg: 'TAG', help: 'tag the snapshot (repeatable)' },
    {
      name: 'exclude',
      kind: 'list',
      arg: 'PATTERN',
      help: 'skip files and directories matching PATTERN (repeatable)',
    },
  ],
  parse(p) {
    if (p.args.length === 0) throw usageError('push', 'no PATH to back up')
    return { paths: p.args, tags: flagList(p, 'tag'), excludes: flagList(p, 'exclude') }
  },
  run: runPush,
}
