import { Excludes, listHeaders, NameFinder, TreeReader } from '../snapshot/index.js'
import { type Command, EXIT, usageError } from './command.js'
import type { Context } from './context.js'
import { isoSecond } from './format.js'

export interface FindOptions {
  /** A name or a glob (*, ?, [..]) matched against file names. */
  readonly name: string
}

export async function runFind(ctx: Context, opts: FindOptions): Promise<number> {
  const matcher = new Excludes([opts.name])
  return ctx.withRepository(async (repo) => {
    const finder = new NameFinder(new TreeReader(repo), (name) => matcher.excludes(name, name))
    let found = 0
    for (const h of await listHeaders(repo)) {
      const prefix = Buffer.from(`${isoSecond(h.time)}  ${h.uuid}  /`)
      for (const m of await finder.find(h.root.tree!)) {
        found++
        await ctx.write(Buffer.concat([prefix, m.path, Buffer.from(m.dir ? '/\n' : '\n')]))
      }
    }
    if (found === 0) {
      ctx.err(`plakar: find: ${opts.name}: in no snapshot`)
      return EXIT.ERROR
    }
    return EXIT.OK
  })
}

export const find: Command<FindOptions> = {
  name: 'find',
  summary: 'find which snapshots hold a file',
  usage: 'find NAME',
  help: `Search every snapshot for files and directories called NAME (a name, or a pattern with
* ? and [...]) and print one line per match: snapshot time, snapshot UUID, full path.
Directories end with /.`,
  exit: ['1  also when NAME is in no snapshot'],
  flags: [],
  parse(p) {
    if (p.args.length !== 1) throw usageError('find', 'expected one NAME')
    if (p.args[0] === '' || p.args[0]!.includes('/'))
      throw usageError('find', 'NAME is a file name, without /')
    return { name: p.args[0]! }
  },
  run: runFind,
}
