import { listHeaders, locate, parseRef, resolveSnapshot, TreeReader, walk } from '../snapshot/index.js'
import { type Command, EXIT, flagBool, usageError } from './command.js'
import type { Context } from './context.js'
import { longLine, snapshotLine } from './format.js'

export interface LsOptions {
  /** SNAPSHOT[:PATH]; undefined lists the snapshots. */
  readonly ref: string | undefined
  readonly recursive: boolean
}

export async function runLs(ctx: Context, opts: LsOptions): Promise<number> {
  return ctx.withRepository(async (repo) => {
    if (opts.ref === undefined) {
      let damaged = 0
      const headers = await listHeaders(repo, (uuid, err) => {
        damaged++
        ctx.err(`plakar: ls: snapshot ${uuid}: ${(err as Error).message}`)
      })
      for (const h of headers) ctx.out(`${snapshotLine(h)}\n`)
      return damaged > 0 ? EXIT.ERROR : EXIT.OK
    }
    const ref = parseRef(opts.ref)
    const header = await resolveSnapshot(repo, ref.snapshot)
    const reader = new TreeReader(repo)
    const at = await locate(reader, header, ref.path ?? '/')
    if (at.entry.kind !== 'dir') {
      await ctx.write(longLine(header, at.entry, Buffer.from(at.path)))
      return EXIT.OK
    }
    if (opts.recursive) {
      for await (const [path, e] of walk(reader, at.entry, Buffer.from(at.path))) {
        await ctx.write(longLine(header, e, path))
      }
    } else {
      for await (const e of reader.list(at.entry.tree!)) await ctx.write(longLine(header, e, e.name))
    }
    return EXIT.OK
  })
}

export const ls: Command<LsOptions> = {
  name: 'ls',
  summary: 'list snapshots, or the files of one',
  usage: 'ls [-recursive] [SNAPSHOT[:PATH]]',
  help: `Without argument, list the snapshots, oldest first: time (UTC), UUID, size, paths; a
snapshot that cannot be read is reported on stderr (exit status 1) and the others listed.
With SNAPSHOT (a UUID, a unique prefix, or latest), list the directory PATH of that
snapshot (default /) like ls -l: mode, owner, group, size, mtime (UTC), name. With
-recursive, list everything below it with full paths. Listing a directory loads only the
directories on its path.`,
  flags: [{ name: 'recursive', kind: 'bool', help: 'list every file below PATH, with full paths' }],
  parse(p) {
    if (p.args.length > 1) throw usageError('ls', `unexpected argument ${p.args[1]}`)
    const recursive = flagBool(p, 'recursive')
    if (recursive && p.args.length === 0) throw usageError('ls', '-recursive needs a SNAPSHOT')
    return { ref: p.args[0], recursive }
  },
  run: runLs,
}
