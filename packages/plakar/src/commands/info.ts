import { listHeaders, resolveSnapshot } from '../snapshot/index.js'
import { type Command, EXIT, usageError } from './command.js'
import type { Context } from './context.js'
import { humanSize } from './format.js'

export interface InfoOptions {
  /** A snapshot; undefined describes the repository. */
  readonly ref: string | undefined
}

export async function runInfo(ctx: Context, opts: InfoOptions): Promise<number> {
  return ctx.withRepository(async (repo) => {
    const rows: [string, string][] = []
    if (opts.ref === undefined) {
      const c = repo.config
      const headers = await listHeaders(repo)
      rows.push(
        ['Repository', repo.store.location],
        ['ID', c.id],
        ['Created', c.createdAt],
        ['Format', `version ${c.version}`],
        ['Encryption', c.encryption ?? 'none'],
        ['Compression', c.compression ?? 'none'],
        [
          'Chunking',
          `${c.chunking.algorithm} min ${c.chunking.min} avg ${c.chunking.avg} max ${c.chunking.max}`,
        ],
        ['Snapshots', String(headers.length)],
        ['Logical size', humanSize(headers.reduce((n, h) => n + h.size, 0))],
        ['Stored size', humanSize(headers.reduce((n, h) => n + h.stored, 0))],
      )
    } else {
      const h = await resolveSnapshot(repo, opts.ref)
      const c = h.counts
      rows.push(
        ['Snapshot', h.uuid],
        ['Time', h.time],
        ['Duration', `${(h.durationMs / 1000).toFixed(3)} s`],
        ['Host', h.hostname],
        ['User', h.username],
        ['Command', h.commandLine.join(' ')],
        ['Paths', h.paths.join(', ')],
        ['Tags', h.tags.join(', ')],
        ['Files', String(c.files)],
        ['Directories', String(c.dirs)],
        ['Symlinks', String(c.symlinks)],
        ['Other files', String(c.others)],
        ['Size', `${humanSize(h.size)} (${h.size} bytes)`],
        ['Stored', `${humanSize(h.stored)} (${h.stored} bytes)`],
        ['Root', h.root.tree!.toString('hex')],
        ['Errors', String(c.errors)],
      )
      for (const e of h.errors) rows.push(['  error', `${e.path.toString()}: ${e.message}`])
      if (c.errors > h.errors.length) rows.push(['  error', `... and ${c.errors - h.errors.length} more`])
    }
    const w = Math.max(...rows.map(([k]) => k.length))
    for (const [k, v] of rows) ctx.out(`${`${k}:`.padEnd(w + 1)} ${v}\n`)
    return EXIT.OK
  })
}

export const info: Command<InfoOptions> = {
  name: 'info',
  summary: 'describe the repository or a snapshot',
  usage: 'info [SNAPSHOT]',
  help: `Without argument, describe the repository: location, id, format, encryption,
compression, chunking, number of snapshots and sizes. With SNAPSHOT (a UUID, a unique
prefix, or latest), describe that snapshot: time, host, user, command line, paths, tags,
counts, sizes, and the errors met while it was taken.`,
  flags: [],
  parse(p) {
    if (p.args.length > 1) throw usageError('info', `unexpected argument ${p.args[1]}`)
    return { ref: p.args[0] }
  },
  run: runInfo,
}
