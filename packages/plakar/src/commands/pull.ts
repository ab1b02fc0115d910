import { resolve } from 'node:path'
import {
  type Entry,
  locate,
  parseRef,
  RestoreProgress,
  Restorer,
  resolveSnapshot,
  TreeReader,
} from '../snapshot/index.js'
import { type Command, EXIT, flagBool, flagString, usageError } from './command.js'
import type { Context } from './context.js'
import { duration, humanSize } from './format.js'
import { ProgressLine } from './progress.js'

export interface PullOptions {
  /** SNAPSHOT or SNAPSHOT:PATH. */
  readonly refs: readonly string[]
  /** The target directory; default the current directory. */
  readonly target: string | undefined
  readonly rebase: boolean
}

interface Job {
  readonly parents: Entry[]
  readonly entry: Entry
}

export async function runPull(ctx: Context, opts: PullOptions): Promise<number> {
  return ctx.withRepository(
    async (repo) => {
      const reader = new TreeReader(repo)
      const jobs: Job[] = []
      for (const arg of opts.refs) {
        const ref = parseRef(arg)
        const header = await resolveSnapshot(repo, ref.snapshot)
        if (ref.path !== undefined) {
          const at = await locate(reader, header, ref.path)
          jobs.push({ parents: opts.rebase ? [] : at.parents, entry: at.entry })
        } else if (opts.rebase) {
          for (const p of header.paths)
            jobs.push({ parents: [], entry: (await locate(reader, header, p)).entry })
        } else jobs.push({ parents: [], entry: header.root })
      }
      const target = resolve(ctx.io.cwd, opts.target ?? '.')
      const progress = new RestoreProgress()
      const total = jobs.reduce((n, j) => n + j.entry.size, 0)
      const line = new ProgressLine(ctx.io.stderr, 'pull', progress, () => total).start()
      const started = Date.now()
      try {
        const restorer = new Restorer(repo, reader, target, {
          progress,
          // A restore's main thread mostly waits (for reads, for the workers): one worker per
          // CPU unless -cpu says otherwise (a backup's default keeps a CPU for its main thread).
          workers: ctx.global.cpusGiven ? ctx.global.cpus : undefined,
          onError: (path, message) => {
            line.stop()
            ctx.err(`plakar: pull: ${path.toString()}: ${message}`)
            line.start()
          },
        })
        for (const j of jobs) {
          await restorer.restore(j.parents, j.entry)
        }
        await restorer.finish()
        line.stop()
        const errors = restorer.errors > 0 ? `, ${restorer.errors} errors (partial)` : ''
        ctx.out(
          `pull: ${progress.files} files, ${humanSize(progress.bytes)} into ${target}${errors} in ${duration((Date.now() - started) / 1000)}\n`,
        )
        return restorer.errors > 0 ? EXIT.PARTIAL : EXIT.OK
      } finally {
        line.stop()
      }
    },
    // getBlob serves only the tree here (small blobs, opened on this thread): file contents
    // are opened by the restore workers, so no decode worker is started besides.
    { decoders: 0 },
  )
}

export const pull: Command<PullOptions> = {
  name: 'pull',
  aliases: ['restore'],
  summary: 'restore snapshots or paths from them',
  usage: 'pull [-path DIR] [-rebase] SNAPSHOT[:PATH]...',
  help: `Restore each SNAPSHOT (a UUID, a unique prefix of one, or latest), or only PATH inside
it, below DIR (default: the current directory). Without -rebase, files go to DIR followed
by their full original path: pull -path /tmp/r latest:/home/me/src writes /tmp/r/home/me/src.
With -rebase, the restored path goes straight into DIR under its own name: /tmp/r/src (for
a whole snapshot, each path given to push is restored that way).

Restoring is safe whatever the snapshot holds: nothing is written outside DIR (names with
/, .. or NUL are refused, symlinks are created last and never written through), and each
file appears under its name only once complete. Existing files of the same names are
replaced. Owners are restored when running as root; modes, mtimes (to the microsecond),
extended attributes, hard links and holes of sparse files always.`,
  exit: ['3  partial: some files could not be restored (listed on stderr)'],
  flags: [
    { name: 'path', kind: 'string', arg: 'DIR', help: 'restore below DIR (created if missing)' },
    {
      name: 'rebase',
      kind: 'bool',
      help: 'restore each path directly into DIR, without its parent directories',
    },
  ],
  parse(p) {
    if (p.args.length === 0) throw usageError('pull', 'no SNAPSHOT to restore')
    return { refs: p.args, target: flagString(p, 'path'), rebase: flagBool(p, 'rebase') }
  },
  run: runPull,
}
