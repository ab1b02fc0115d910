import { availableParallelism } from 'node:os'
import { type CheckReport, type CheckTarget, check, type Subset } from '../maintenance/index.js'
import { listHeaders, parseRef, resolveSnapshot } from '../snapshot/index.js'
import { type Command, EXIT, flagBool, flagString, usageError } from './command.js'
import type { Context } from './context.js'
import { duration, humanSize } from './format.js'
import { ProgressLine } from './progress.js'

export interface CheckOptions {
  /** SNAPSHOT[:PATH]; empty = the whole repository. */
  readonly refs: readonly string[]
  readonly fast: boolean
  readonly subset: Subset | undefined
}

export async function runCheck(ctx: Context, opts: CheckOptions): Promise<number> {
  return ctx.withRepository(async (repo) => {
    const started = Date.now()
    const whole = opts.refs.length === 0
    const targets: CheckTarget[] = []
    const unreadable: { uuid: string; error: string }[] = []
    if (whole) {
      const headers = await listHeaders(repo, (uuid, err) =>
        unreadable.push({ uuid, error: (err as Error).message }),
      )
      for (const header of headers) targets.push({ header, path: '/' })
    } else {
      for (const arg of opts.refs) {
        const ref = parseRef(arg)
        targets.push({ header: await resolveSnapshot(repo, ref.snapshot), path: ref.path ?? '/' })
      }
    }
    const counters = { files: 0, bytes: 0, errors: 0 }
    let total = 0
    const line = new ProgressLine(ctx.io.stderr, 'check', counters, () => total || undefined).start()
    let report: CheckReport
    try {
      report = await check(repo, {
        targets,
        whole,
        unreadableSnapshots: unreadable,
        fast: opts.fast,
        ...(opts.subset && { subset: opts.subset }),
        // The main thread mostly waits while the workers open blobs (measured: idle two thirds
        // of the read phase), so one worker per CPU unless -cpu says otherwise, as pull does.
        workers: ctx.global.cpusGiven ? ctx.global.cpus : availableParallelism(),
        progress: (p) => {
          counters.files = p.files
          counters.bytes = p.bytes
          counters.errors = p.problems
          total = p.total
        },
      })
    } finally {
      line.stop()
    }
    for (const line of damageLines(report)) ctx.out(`${line}\n`)
    for (const line of notes(report)) ctx.out(`note: ${line}\n`)
    ctx.out(`${summary(report, opts, (Date.now() - started) / 1000)}\n`)
    return report.problems > 0 ? EXIT.DAMAGED : EXIT.OK
  })
}

const short = (hex: string) => `${hex.slice(0, 8)}…`

/** A worker's message names the blob already ("blob <hex>: why"): keep the why. */
function why(error: string): string {
  return error.replace(/^blob [0-9a-f]{64}: /, '')
}

/** One line per snapshot:path that loses data (check, and repair after its rebuild). */
export function damageLines(r: CheckReport): string[] {
  const out: string[] = []
  for (const s of r.unreadableSnapshots) out.push(`snapshot ${s.uuid}: cannot be read: ${s.error}`)
  for (const t of r.treeDamage)
    out.push(`${t.loss.snapshot.slice(0, 8)}:${t.loss.path}: ${t.error} (all below is lost)`)
  for (const d of r.damagedBlobs) {
    const where = `blob ${short(d.blob)}${d.pack ? ` in pack ${short(d.pack)}` : ''}: ${why(d.error)}`
    if (d.losses.length === 0) out.push(`${where} (no snapshot checked uses it)`)
    for (const l of d.losses) out.push(`${l.snapshot.slice(0, 8)}:${l.path}: ${where}`)
    if (d.moreLosses > 0) out.push(`blob ${short(d.blob)}: and ${d.moreLosses} more files`)
  }
  for (const c of r.damagedContents) {
    for (const l of c.losses) out.push(`${l.snapshot.slice(0, 8)}:${l.path}: ${c.error}`)
    if (c.moreLosses > 0) out.push(`and ${c.moreLosses} more files with the same content`)
  }
  for (const i of r.damagedIndexes)
    out.push(`index ${short(i.name)}: ${i.error} (plakar repair rebuilds the index)`)
  for (const p of r.damagedPacks) out.push(`pack ${short(p.pack)}: ${p.error}`)
  return out
}

function notes(r: CheckReport): string[] {
  const out: string[] = []
  if (r.unindexedPacks.length > 0) {
    const bytes = r.unindexedPacks.reduce((n, p) => n + p.size, 0)
    out.push(
      `${r.unindexedPacks.length} packs (${humanSize(bytes)}) that no index names, left by interrupted pushes: plakar prune removes them`,
    )
  }
  if (r.unusedBlobs > 0)
    out.push(
      `${r.unusedBlobs} blobs (${humanSize(r.unusedBytes)}) that no snapshot uses: plakar prune gives them back`,
    )
  if (r.packsSkipped > 0) out.push(`${r.packsSkipped} packs outside the subset were not read`)
  return out
}

function summary(r: CheckReport, opts: CheckOptions, seconds: number): string {
  const what = opts.fast
    ? `${r.blobs} blobs located, no data read`
    : `${r.blobs} blobs, ${humanSize(r.bytesRead)} read from ${r.packsRead} packs`
  const lost = new Set<string>()
  for (const d of r.damagedBlobs) for (const l of d.losses) lost.add(`${l.snapshot}:${l.path}`)
  for (const t of r.treeDamage) lost.add(`${t.loss.snapshot}:${t.loss.path}`)
  for (const c of r.damagedContents) for (const l of c.losses) lost.add(`${l.snapshot}:${l.path}`)
  const verdict =
    r.problems === 0
      ? 'no damage'
      : `${r.problems} problem${r.problems === 1 ? '' : 's'}, data lost under ${lost.size} path${lost.size === 1 ? '' : 's'}`
  return `check: ${r.snapshots} snapshot${r.snapshots === 1 ? '' : 's'}, ${r.files} files, ${what} in ${duration(seconds)}: ${verdict}`
}

function parseSubset(text: string): Subset {
  const part = /^(\d+)\/(\d+)$/.exec(text)
  if (part) {
    const n = Number(part[1])
    const m = Number(part[2])
    if (m >= 1 && n >= 1 && n <= m && m <= 1e6) return { part: n, of: m }
  }
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(text)
  if (pct) {
    const p = Number(pct[1])
    if (p > 0 && p <= 100) return { percent: p }
  }
  throw usageError('check', `-subset takes N/M (1 <= N <= M) or P% (0 < P <= 100), not "${text}"`)
}

export const checkCommand: Command<CheckOptions> = {
  name: 'check',
  summary: 'verify snapshots and the repository',
  usage: 'check [-fast] [-subset N/M | -subset P%] [SNAPSHOT[:PATH]...]',
  help: `With SNAPSHOTs (a UUID, a unique prefix, or latest, optionally :PATH), read every blob
they use (or PATH's subtree uses): each is authenticated, decompressed and checked against
its id. With no SNAPSHOT, check the whole repository: every snapshot, every indexed blob,
and coherency: index objects that do not decode, index entries outside their pack or not
in its header, packs no index names, blobs no snapshot uses, snapshot objects that do not
open. Each pack is read once, front to back, on -cpu workers (default: one per CPU).

-fast reads no data: it proves every blob used is in the index, in a pack that exists
and is long enough. -subset 3/12 reads only the third twelfth of the packs (the same
packs every time, so twelve monthly runs cover them all); -subset 10% a random tenth.

Each damaged blob is one line per snapshot:path that loses data through it, such as
  99e53a9c:/etc/passwd: blob 3fa2c1d0… in pack 8c1d2e3f…: authentication failed
then notes and a summary. plakar pull of a damaged snapshot restores everything else.`,
  exit: ['4  damage found (listed on stdout); 1 means the check could not run'],
  flags: [
    { name: 'fast', kind: 'bool', help: 'read no data: blobs indexed, packs present and long enough' },
    { name: 'subset', kind: 'string', arg: 'N/M|P%', help: 'read only a share of the packs' },
  ],
  parse(p) {
    const subsetText = flagString(p, 'subset')
    const fast = flagBool(p, 'fast')
    if (fast && subsetText !== undefined)
      throw usageError('check', '-fast reads no data: -subset has no meaning with it')
    return { refs: p.args, fast, subset: subsetText === undefined ? undefined : parseSubset(subsetText) }
  },
  run: runCheck,
}
