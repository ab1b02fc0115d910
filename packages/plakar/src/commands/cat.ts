import { SnapshotError } from '../errors.js'
import { locate, parseRef, resolveSnapshot, TreeReader } from '../snapshot/index.js'
import { type Command, EXIT, usageError } from './command.js'
import type { Context } from './context.js'

export interface CatOptions {
  /** SNAPSHOT:PATH of regular files. */
  readonly refs: readonly string[]
}

/** Chunks fetched ahead of the one being written to stdout. */
const READ_AHEAD = 4

export async function runCat(ctx: Context, opts: CatOptions): Promise<number> {
  return ctx.withRepository(async (repo) => {
    const reader = new TreeReader(repo)
    for (const arg of opts.refs) {
      const ref = parseRef(arg)
      const header = await resolveSnapshot(repo, ref.snapshot)
      const at = await locate(reader, header, ref.path!)
      if (at.entry.kind !== 'file') {
        throw new SnapshotError('SNAPSHOT_PATH_NOT_FOUND', `${arg}: not a regular file (${at.entry.kind})`)
      }
      const chunks = reader.chunks(at.entry.content!)
      for await (const data of repo.readBlobs(chunks, { readAhead: READ_AHEAD })) await ctx.write(data)
    }
    return EXIT.OK
  })
}

export const cat: Command<CatOptions> = {
  name: 'cat',
  summary: 'print files from a snapshot',
  usage: 'cat SNAPSHOT:PATH...',
  help: `Write the content of each file PATH of SNAPSHOT (a UUID, a unique prefix, or latest) to
standard output, in order. Every chunk is verified before it is written: a damaged
repository stops cat with an error, never with wrong bytes.`,
  flags: [],
  parse(p) {
    if (p.args.length === 0) throw usageError('cat', 'no SNAPSHOT:PATH given')
    for (const a of p.args)
      if (parseRef(a).path === undefined) throw usageError('cat', `${a}: expected SNAPSHOT:PATH`)
    return { refs: p.args }
  },
  run: runCat,
}
