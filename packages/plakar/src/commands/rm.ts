import { isPlakarError } from '../errors.js'
import {
  type Duration,
  matchesFilter,
  parseDuration,
  removeSnapshots,
  type SnapshotFilter,
} from '../maintenance/index.js'
import { listHeaders, type SnapshotHeader } from '../snapshot/index.js'
import {
  type Command,
  EXIT,
  type FlagSpec,
  flagBool,
  flagList,
  flagString,
  type ParsedArgs,
  usageError,
} from './command.js'
import type { Context, OpenedRepository } from './context.js'
import { snapshotLine } from './format.js'

export interface RmOptions {
  /** UUIDs, unique prefixes or `latest`; empty = every snapshot the filter matches. */
  readonly refs: readonly string[]
  readonly filter: SnapshotFilter
  readonly dryRun: boolean
}

export async function runRm(ctx: Context, opts: RmOptions): Promise<number> {
  return ctx.withRepository(async (repo) => {
    let status: number = EXIT.OK
    const headers = await listHeaders(repo, (uuid, err) => {
      ctx.err(`plakar: rm: snapshot ${uuid} cannot be read: ${(err as Error).message}`)
    })
    const chosen = new Map<string, SnapshotHeader | null>()
    if (opts.refs.length === 0) {
      const now = Date.now()
      for (const h of headers) if (matchesFilter(h, opts.filter, now)) chosen.set(h.uuid, h)
    } else {
      for (const ref of opts.refs) {
        const uuid = await matchRef(repo, headers, ref)
        if (uuid === null) {
          ctx.err(`plakar: rm: ${ref}: no such snapshot\n`)
          status = EXIT.ERROR
          continue
        }
        if (uuid instanceof Error) {
          ctx.err(`plakar: rm: ${uuid.message}\n`)
          status = EXIT.ERROR
          continue
        }
        // A snapshot that does not decode is still removable by its id; filters need a header.
        const h = headers.find((x) => x.uuid === uuid) ?? null
        if (h === null || matchesFilter(h, opts.filter, Date.now())) chosen.set(uuid, h)
      }
    }
    const uuids = [...chosen.keys()]
    const line = (uuid: string) => {
      const h = chosen.get(uuid)
      return h ? snapshotLine(h) : `${uuid} (unreadable)`
    }
    if (opts.dryRun) {
      for (const uuid of uuids) ctx.out(`would remove ${line(uuid)}\n`)
      ctx.out(`rm: ${uuids.length} snapshot${uuids.length === 1 ? '' : 's'} would be removed (dry run)\n`)
      return status
    }
    await removeSnapshots(repo, uuids, (uuid) => ctx.out(`removed ${line(uuid)}\n`))
    ctx.out(
      `rm: ${uuids.length} snapshot${uuids.length === 1 ? '' : 's'} removed; their data stays until plakar prune\n`,
    )
    return status
  })
}

/**
 * The snapshot `ref` names among all of them (readable or not): `latest`, a full UUID or a
 * unique prefix; null when none, an Error naming the candidates when several.
 */
async function matchRef(
  repo: OpenedRepository,
  headers: readonly SnapshotHeader[],
  ref: string,
): Promise<string | null | Error> {
  if (ref === 'latest') return headers[headers.length - 1]?.uuid ?? null
  const prefix = ref.toLowerCase()
  if (!/^[0-9a-f-]+$/.test(prefix)) return new Error(`${ref}: not a snapshot id`)
  const matches = (await repo.listSnapshots()).filter((u) => u.startsWith(prefix)).sort()
  if (matches.length > 1) return new Error(`${ref}: ambiguous, matches ${matches.join(' ')}`)
  return matches[0] ?? null
}

/** The filter flags rm shares with keep and sync: -older, -tag, -host. */
export const FILTER_FLAGS: readonly FlagSpec[] = [
  { name: 'older', kind: 'string', arg: 'DURATION', help: 'only snapshots older than DURATION' },
  { name: 'tag', kind: 'list', arg: 'TAG', help: 'only snapshots with this tag (repeatable: all of them)' },
  {
    name: 'host',
    kind: 'list',
    arg: 'HOST',
    help: 'only snapshots from this host (repeatable: any of them)',
  },
]

/** The filter flags' values (FILTER_FLAGS). */
export function parseFilter(command: string, p: ParsedArgs): SnapshotFilter {
  const older = flagString(p, 'older')
  let age: Duration | undefined
  try {
    age = older === undefined ? undefined : parseDuration(older)
  } catch (err) {
    if (isPlakarError(err)) throw usageError(command, err.message)
    throw err
  }
  const tags = flagList(p, 'tag')
  const hosts = flagList(p, 'host')
  return {
    ...(age && { older: age }),
    ...(tags.length > 0 && { tags }),
    ...(hosts.length > 0 && { hosts }),
  }
}

export const rm: Command<RmOptions> = {
  name: 'rm',
  summary: 'remove snapshots',
  usage: 'rm [-dry-run] [-older DURATION] [-tag TAG]... [-host HOST]... [SNAPSHOT...]',
  help: `Remove each SNAPSHOT (a UUID, a unique prefix of one, or latest), or with no SNAPSHOT
every snapshot the filters match: -older 30d (older than 30 days; units y, m for
months, w, d, h, combined as 1y6m), -tag TAG (carrying every TAG given), -host HOST
(from one of the HOSTs given). With both, the SNAPSHOTs the filters match. At least one
SNAPSHOT or filter is needed. Removals run in parallel. Only the snapshot objects go:
the data they alone used stays in the repository until plakar prune gives it back. A
snapshot that cannot be read can still be removed by its UUID. Removing is idempotent:
after an interruption, run the same command again. -dry-run prints what would go.`,
  exit: ['1  a SNAPSHOT named no snapshot (the others were removed)'],
  flags: [
    { name: 'dry-run', kind: 'bool', help: 'print what would be removed, remove nothing' },
    ...FILTER_FLAGS,
  ],
  parse(p) {
    const filter = parseFilter('rm', p)
    if (p.args.length === 0 && Object.keys(filter).length === 0)
      throw usageError('rm', 'no SNAPSHOT or filter given (to remove every snapshot, say -older 0h)')
    return { refs: p.args, filter, dryRun: flagBool(p, 'dry-run') }
  },
  run: runRm,
}
