import { Excludes, joinPath, listHeaders, TreeReader, walk } from '../snapshot/index.js'
import { type Command, EXIT, usageError } from './command.js'
import type { Context } from './context.js'
import { isoSecond } from './format.js'

export interface FindOptions {
  /** A name or a glob (*, ?, [..]) matched against file names. */
  readonly name: string
}

export async function runFind(ctx: Context, opts: FindOptions): Promise<number> {
  const matcher = new Excludes([opts.name.replace(/\//g, '')])
  return ctx.withRepository(async (repo) => {
    const reader = new TreeReader(repo)
    let found = 0
    for (const h of await listHeaders(repo)) {
      for await (const [path, e] of walk(reader, h.root, Buffer.from('/'))) {
        if (!matcher.excludes(path, e.name)) continue
        found++
        const p = e.kind === 'dir' ? joinPath(path, Buffer.alloc(0)) : path
        await ctx.write(
          Buffer.concat([Buffer.from(`${isoSecond(h.time)}  ${h.uuid}  `), p, Buffer.from('\n')]),
        )
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
