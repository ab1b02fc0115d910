import { isPlakarError, PlakarError } from '../errors.js'
import { matchesFilter, type SnapshotFilter } from '../maintenance/index.js'
import { listHeaders, type SnapshotHeader } from '../snapshot/index.js'
import { type SyncReport, sync, TransferProgress } from '../transfer/index.js'
import { type Command, flagString, usageError } from './command.js'
import type { Context, OpenedRepository } from './context.js'
import { duration, humanSize } from './format.js'
import { getPassphrase, type PassphraseSource } from './passphrase.js'
import { ProgressLine } from './progress.js'
import { FILTER_FLAGS, parseFilter } from './rm.js'

const DIRECTIONS = ['to', 'from', 'with'] as const
type Direction = (typeof DIRECTIONS)[number]

/** The peer's passphrase: its own variable and flag, so that both can be given at once. */
export const PEER_PASSPHRASE: PassphraseSource = {
  variable: 'PLAKAR_PEER_PASSPHRASE',
  flag: '-peer-keyfile',
  label: 'peer passphrase',
}

export interface SyncCommandOptions {
  /** UUIDs, unique prefixes or `latest`, in the repository copied from; empty = all. */
  readonly refs: readonly string[]
  readonly direction: Direction
  readonly peer: string
  readonly filter: SnapshotFilter
  readonly peerKeyfile: string | undefined
}

export async function runSync(ctx: Context, opts: SyncCommandOptions): Promise<number> {
  return ctx.withRepository(async (repo) => {
    const peer = await ctx.repositories
      .open(opts.peer, {
        passphrase: () =>
          getPassphrase(ctx.io, opts.peerKeyfile, { confirm: false, source: PEER_PASSPHRASE }),
        cacheDir: ctx.cacheDir(),
      })
      .catch((err: unknown) => {
        // Two passphrases are in play: say which one was wrong, and where the peer's comes from.
        if (!isPlakarError(err, 'REPO_BAD_PASSPHRASE')) throw err
        throw new PlakarError(
          'REPO_BAD_PASSPHRASE',
          // Not the peer's location: as typed, it may carry a password (postgres://u:pw@...).
          'sync: wrong passphrase for the peer (it comes from -peer-keyfile, PLAKAR_PEER_PASSPHRASE or the prompt)',
          { cause: err },
        )
      })
    try {
      const legs: [OpenedRepository, OpenedRepository][] = []
      if (opts.direction !== 'from') legs.push([repo, peer])
      if (opts.direction !== 'to') legs.push([peer, repo])
      // Refs name snapshots of the side they are copied from; with `with`, of either side.
      const found = new Set<string>()
      for (const [from, to] of legs) {
        const started = Date.now()
        const uuids = chosen(await listHeaders(from), opts, found)
        const progress = new TransferProgress()
        const line = new ProgressLine(ctx.io.stderr, 'sync', progress, () => progress.total).start()
        let report: SyncReport
        try {
          report = await sync(from, to, { uuids, progress })
        } finally {
          line.stop()
        }
        for (const h of report.copied)
          ctx.out(`synced ${h.uuid.slice(0, 8)} ${h.time} ${h.hostname} ${h.paths.join(' ')}\n`)
        ctx.out(`${summary(from.store.location, to.store.location, report, (Date.now() - started) / 1000)}\n`)
      }
      const missing = opts.refs.filter((r) => !found.has(r))
      if (missing.length > 0) {
        ctx.err(`plakar: sync: ${missing.join(', ')}: no such snapshot`)
        return 1
      }
      return 0
    } finally {
      await peer.close()
    }
  })
}

/** The uuids of `headers` the refs and filter choose; refs matched are added to `found`. */
function chosen(headers: readonly SnapshotHeader[], opts: SyncCommandOptions, found: Set<string>): string[] {
  const now = Date.now()
  const out: string[] = []
  for (const h of headers) {
    if (!matchesFilter(h, opts.filter, now)) continue
    if (opts.refs.length === 0) {
      out.push(h.uuid)
      continue
    }
    for (const ref of opts.refs) {
      const hit = ref === 'latest' ? h === headers[headers.length - 1] : h.uuid.startsWith(ref.toLowerCase())
      if (hit) {
        out.push(h.uuid)
        found.add(ref)
      }
    }
  }
  return out
}

function summary(from: string, to: string, r: SyncReport, seconds: number): string {
  const n = r.copied.length
  return (
    `sync: ${from} -> ${to}: ${n} snapshot${n === 1 ? '' : 's'} copied, ${r.present} already there; ` +
    `${humanSize(r.read)} read and sealed again, ${humanSize(r.stored)} stored (${r.blobs} new blobs) in ${duration(seconds)}`
  )
}

export const syncCommand: Command<SyncCommandOptions> = {
  name: 'sync',
  summary: 'copy snapshots to, from or with another repository',
  usage:
    'sync [-older DURATION] [-tag TAG]... [-host HOST]... [-peer-keyfile FILE] [SNAPSHOT...] to|from|with PEER',
  help: `Copy snapshots between this repository and PEER, another repository at any location,
with its own passphrase, keys, compression and chunking: "to" copies this repository's
snapshots to PEER, "from" PEER's here, "with" both ways. Each SNAPSHOT (a UUID, a unique
prefix, or latest, of the side copied from) or, with none, every snapshot the filters
match (as rm's: -older, -tag, -host); with neither, all of them.

A snapshot keeps its identity: uuid, time, host, paths, tags and every file's metadata.
One the other side holds already (by uuid) is skipped, so a second run copies nothing.
Each file's chunks are read, authenticated and sealed again with PEER's keys; what PEER
already holds from earlier syncs (unchanged directories and files) is not read again.
A snapshot appears on the other side only once all its data is there.

PEER's passphrase comes from -peer-keyfile FILE, PLAKAR_PEER_PASSPHRASE, or a prompt.`,
  exit: ['1  a SNAPSHOT named no snapshot (the others were copied)'],
  flags: [
    ...FILTER_FLAGS,
    {
      name: 'peer-keyfile',
      kind: 'string',
      arg: 'FILE',
      help: "read PEER's passphrase from the first line of FILE",
    },
  ],
  parse(p) {
    const args = p.args
    if (args.length < 2) throw usageError('sync', 'want [SNAPSHOT...] to|from|with PEER')
    const direction = args[args.length - 2]!
    if (!(DIRECTIONS as readonly string[]).includes(direction))
      throw usageError('sync', `want to, from or with before PEER, not "${direction}"`)
    return {
      refs: args.slice(0, -2),
      direction: direction as Direction,
      peer: args[args.length - 1]!,
      filter: parseFilter('sync', p),
      peerKeyfile: flagString(p, 'peer-keyfile'),
    }
  },
  run: runSync,
}
