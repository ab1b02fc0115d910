import { diffDirs, type Entry, locate, resolveSnapshot, sameEntry, TreeReader } from '../snapshot/index.js'
import { type Command, EXIT, usageError } from './command.js'
import type { Context } from './context.js'

export interface DiffOptions {
  readonly a: string
  readonly b: string
  readonly path: string | undefined
}

export async function runDiff(ctx: Context, opts: DiffOptions): Promise<number> {
  return ctx.withRepository(async (repo) => {
    const reader = new TreeReader(repo)
    const ha = await resolveSnapshot(repo, opts.a)
    const hb = await resolveSnapshot(repo, opts.b)
    const path = opts.path ?? '/'
    const ea = await locate(reader, ha, path).catch(() => undefined)
    const eb = await locate(reader, hb, path).catch(() => undefined)
    if (ea === undefined && eb === undefined) await locate(reader, ha, path)
    const line = (op: string, p: Buffer, e: Entry) =>
      ctx.write(Buffer.concat([Buffer.from(`${op} `), p, Buffer.from(e.kind === 'dir' ? '/\n' : '\n')]))
    if (ea === undefined) await line('+', Buffer.from(eb!.path), eb!.entry)
    else if (eb === undefined) await line('-', Buffer.from(ea.path), ea.entry)
    else if (ea.entry.kind === 'dir' && eb.entry.kind === 'dir') {
      for await (const c of diffDirs(reader, ea.entry, eb.entry, Buffer.from(ea.path)))
        await line(c.op, c.path, c.entry)
    } else if (ea.entry.kind !== eb.entry.kind) {
      await line('-', Buffer.from(ea.path), ea.entry)
      await line('+', Buffer.from(eb.path), eb.entry)
    } else if (!sameEntry(ea.entry, eb.entry)) await line('~', Buffer.from(eb.path), eb.entry)
    return EXIT.OK
  })
}

export const diff: Command<DiffOptions> = {
  name: 'diff',
  summary: 'show what changed between two snapshots',
  usage: 'diff SNAPSHOT1 SNAPSHOT2 [PATH]',
  help: `List what differs between SNAPSHOT1 and SNAPSHOT2 (below PATH, default /), one line per
path: "+ path" added in SNAPSHOT2, "- path" gone from it, "~ path" changed (content, size,
mode, owner, mtime or target); directories end with /. Directories that did not change are
skipped without being read, so a diff costs what changed, not what is there.`,
  flags: [],
  parse(p) {
    if (p.args.length < 2) throw usageError('diff', 'expected SNAPSHOT1 SNAPSHOT2 [PATH]')
    if (p.args.length > 3) throw usageError('diff', `unexpected argument ${p.args[3]}`)
    return { a: p.args[0]!, b: p.args[1]!, path: p.args[2] }
  },
  run: runDiff,
}
