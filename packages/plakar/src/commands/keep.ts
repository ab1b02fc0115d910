import { isPlakarError } from '../errors.js'
import {
  applyPolicy,
  GROUP_KEYS,
  type GroupKey,
  hasRule,
  parseDuration,
  type RetentionPolicy,
  removeSnapshots,
} from '../maintenance/index.js'
import { listHeaders } from '../snapshot/index.js'
import { type Command, EXIT, flagBool, flagList, flagString, type ParsedArgs, usageError } from './command.js'
import type { Context } from './context.js'
import { snapshotLine } from './format.js'

export interface KeepOptions {
  readonly policy: RetentionPolicy
  readonly dryRun: boolean
}

export async function runKeep(ctx: Context, opts: KeepOptions): Promise<number> {
  return ctx.withRepository(async (repo) => {
    let unreadable = 0
    const headers = await listHeaders(repo, (uuid, err) => {
      unreadable++
      ctx.err(`plakar: keep: snapshot ${uuid} cannot be read, left alone: ${(err as Error).message}`)
    })
    const decisions = applyPolicy(headers, opts.policy)
    let group: string | undefined
    for (const d of decisions) {
      if (d.group !== group && d.group !== '') ctx.out(`${d.group}\n`)
      group = d.group
      const why = d.keep
        ? `keep    ${snapshotLine(d.snapshot)}  (${d.reasons.join(', ')})`
        : `remove  ${snapshotLine(d.snapshot)}`
      ctx.out(`  ${why}\n`)
    }
    const gone = decisions.filter((d) => !d.keep).map((d) => d.snapshot.uuid)
    const kept = decisions.length - gone.length
    if (opts.dryRun) {
      ctx.out(`keep: ${kept} kept, ${gone.length} would be removed (dry run)\n`)
      return EXIT.OK
    }
    await removeSnapshots(repo, gone)
    ctx.out(`keep: ${kept} kept, ${gone.length} removed; their data stays until plakar prune\n`)
    return unreadable > 0 ? EXIT.ERROR : EXIT.OK
  })
}

const COUNT_RULES = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const

function count(p: ParsedArgs, name: string): number | undefined {
  const v = flagString(p, name)
  if (v === undefined) return undefined
  if (!/^\d+$/.test(v) || Number(v) > 1e9) throw usageError('keep', `-${name} takes a count, not "${v}"`)
  return Number(v)
}

export const keep: Command<KeepOptions> = {
  name: 'keep',
  summary: 'remove snapshots a retention policy does not keep',
  usage:
    'keep N | keep [-last N] [-hourly N] [-daily N] [-weekly N] [-monthly N] [-yearly N] [-within DURATION] [-tag TAG]... [-group-by host,paths] [-dry-run]',
  help: `keep N keeps the N newest snapshots of the repository and removes the others.

A retention policy instead works as restic's forget: snapshots are grouped by host and
paths (-group-by: any of host, paths, tags, comma-separated; "" for one group), and in
each group, newest first, each rule keeps snapshots:
  -last N        the N newest
  -hourly N      the newest of each of the N latest hours that have one (also -daily,
                 -weekly: ISO weeks, -monthly, -yearly), in local time (TZ)
  -within D      all no older than D before the group's newest (30d, 1y6m, 12h)
  -tag TAG       all carrying TAG (repeatable)
A snapshot kept by any rule stays. Each snapshot is printed with why it stays, or that
it goes; removals run in parallel. Only snapshot objects are removed: plakar prune gives
their data back. A snapshot that cannot be read is never removed (exit status 1).
Applying a policy twice removes nothing the second time, and an interrupted run is
finished by running it again. -dry-run prints the decisions and removes nothing.`,
  flags: [
    ...COUNT_RULES.map((name) => ({
      name,
      kind: 'string' as const,
      arg: 'N',
      help: `keep by the ${name} rule`,
    })),
    { name: 'within', kind: 'string', arg: 'DURATION', help: 'keep all within DURATION of the newest' },
    { name: 'tag', kind: 'list', arg: 'TAG', help: 'keep all carrying TAG' },
    {
      name: 'group-by',
      kind: 'string',
      arg: 'KEYS',
      help: 'group by host, paths, tags (default host,paths)',
    },
    { name: 'dry-run', kind: 'bool', help: 'print the decisions, remove nothing' },
  ],
  parse(p) {
    const dryRun = flagBool(p, 'dry-run')
    const counts = Object.fromEntries(
      COUNT_RULES.map((r) => [r, count(p, r)]).filter(([, v]) => v !== undefined),
    )
    const withinText = flagString(p, 'within')
    const tags = flagList(p, 'tag')
    const groupText = flagString(p, 'group-by')
    let within: RetentionPolicy['within']
    try {
      within = withinText === undefined ? undefined : parseDuration(withinText)
    } catch (err) {
      if (isPlakarError(err)) throw usageError('keep', err.message)
      throw err
    }
    let groupBy: GroupKey[] | undefined
    if (groupText !== undefined) {
      groupBy = groupText === '' ? [] : (groupText.split(',') as GroupKey[])
      const bad = groupBy.find((k) => !GROUP_KEYS.includes(k))
      if (bad !== undefined) throw usageError('keep', `-group-by takes host, paths, tags, not "${bad}"`)
    }
    const policy: RetentionPolicy = {
      ...counts,
      ...(within && { within }),
      ...(tags.length > 0 && { tags }),
      ...(groupBy && { groupBy }),
    }
    if (p.args.length > 1) throw usageError('keep', `unexpected argument ${p.args[1]}`)
    if (p.args.length === 1) {
      // The seed's form: the N newest of the whole repository.
      if (hasRule(policy) || groupBy !== undefined) throw usageError('keep', 'keep N takes no policy flags')
      const n = p.args[0]!
      if (!/^\d+$/.test(n)) throw usageError('keep', `keep N takes a count, not "${n}"`)
      return { policy: { last: Number(n), groupBy: [] }, dryRun }
    }
    if (!hasRule(policy)) throw usageError('keep', 'no N and no rule given: say what to keep')
    return { policy, dryRun }
  },
  run: runKeep,
}
