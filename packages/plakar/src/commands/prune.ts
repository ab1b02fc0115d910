import { type PruneReport, prune } from '../maintenance/index.js'
import { type Command, EXIT, flagBool, flagString, usageError } from './command.js'
import type { Context } from './context.js'
import { duration, humanSize } from './format.js'

export interface PruneCommandOptions {
  readonly dryRun: boolean
  /** Percent of a pack's bytes that may be unused before it is repacked. */
  readonly maxUnused: number
  /** Bytes of packs repacked at most; undefined = no limit. */
  readonly maxRepack: number | undefined
}

export async function runPrune(ctx: Context, opts: PruneCommandOptions): Promise<number> {
  return ctx.withRepository(async (repo) => {
    const started = Date.now()
    let said = false
    const report = await prune(repo, {
      dryRun: opts.dryRun,
      maxUnused: opts.maxUnused,
      ...(opts.maxRepack !== undefined && { maxRepack: opts.maxRepack }),
      progress: (e) => {
        if (e.phase === 'wait' && !said) {
          said = true
          ctx.err(`plakar: prune: waiting for ${e.writers} backup(s) that started before this prune\n`)
        }
      },
    })
    for (const line of lines(report)) ctx.out(`${line}\n`)
    ctx.out(`${summary(report, (Date.now() - started) / 1000)}\n`)
    return EXIT.OK
  })
}

function packs(n: number, bytes: number): string {
  return `${n} pack${n === 1 ? '' : 's'} (${humanSize(bytes)})`
}

function lines(r: PruneReport): string[] {
  const would = r.dryRun ? 'would be ' : ''
  const out = [
    `${r.snapshots} snapshot${r.snapshots === 1 ? '' : 's'}, ${packs(r.before.packs, r.before.bytes)}; ` +
      `${r.unusedBlobs} blob${r.unusedBlobs === 1 ? '' : 's'} (${humanSize(r.unusedBytes)}) used by no snapshot`,
    `deleted whole: ${would}${packs(r.deleted.packs, r.deleted.bytes)}`,
    `repacked: ${would}${packs(r.repacked.packs, r.repacked.bytes)}, ${r.repacked.blobs} blob${r.repacked.blobs === 1 ? '' : 's'} in use copied (${humanSize(r.repacked.written)})`,
    `leftovers of interrupted backups: ${would}${packs(r.leftovers.packs, r.leftovers.bytes)}`,
  ]
  if (!r.dryRun) {
    out.push(`index: ${r.indexes.before} object${r.indexes.before === 1 ? '' : 's'} -> ${r.indexes.after}`)
    if (r.spared > 0)
      out.push(`spared: ${r.spared} pack${r.spared === 1 ? '' : 's'} that backups made during the prune use`)
    if (r.cleaned > 0) out.push(`removed ${r.cleaned} leftover temporary file${r.cleaned === 1 ? '' : 's'}`)
  }
  return out
}

function summary(r: PruneReport, seconds: number): string {
  if (r.dryRun) return `prune: ${humanSize(Math.max(0, r.freed))} would be freed (dry run)`
  return `prune: ${humanSize(Math.max(0, r.freed))} freed in ${duration(seconds)}`
}

/** `5`, `5%` or `2.5%`: a percentage in [0, 100]. */
export function parsePercent(command: string, flag: string, s: string): number {
  const m = /^(\d+(?:\.\d+)?)%?$/.exec(s)
  const v = m ? Number(m[1]) : Number.NaN
  if (!(v >= 0 && v <= 100)) throw usageError(command, `-${flag}: not a percentage from 0 to 100: "${s}"`)
  return v
}

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  m: 1e6,
  g: 1e9,
  t: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
}

/** `500M`, `2G`, `1.5GiB`, `1024`: a size in bytes (SI units; KiB, MiB, GiB, TiB binary). */
export function parseSize(command: string, flag: string, s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*?)b?$/i.exec(s)
  const unit = m ? (UNITS[m[2]!.toLowerCase()] ?? UNITS[`${m[2]!.toLowerCase()}b`]) : undefined
  if (!m || unit === undefined) throw usageError(command, `-${flag}: not a size (as 500M, 2G, 1GiB): "${s}"`)
  return Math.floor(Number(m[1]) * unit)
}

export const pruneCommand: Command<PruneCommandOptions> = {
  name: 'prune',
  summary: 'give back the space of data no snapshot uses',
  usage: 'prune [-dry-run] [-max-unused PERCENT] [-max-repack SIZE]',
  help: `Delete the packs that hold only data no snapshot uses (after rm or keep), repack the
packs whose unused share is above -max-unused (default 5%), write an index that
supersedes the old one, and remove what killed backups left behind. Prints what it
freed. -max-repack SIZE bounds the bytes of packs rewritten in one run (500M, 2G); the
rest waits for the next prune. -dry-run prints what would be done and changes nothing.

Backups may run while prune runs, from this machine or others: prune never deletes
data that a snapshot uses, whether it was committed before, during or after the prune
(docs/plakar-maintenance.md says how). It waits for backups that started before it
looked, which it says on stderr. Only one prune or repair runs at a time. A prune
that is interrupted leaves more data than needed, never less: run it again.
It refuses to run (exit 1, nothing changed) when a snapshot or an index object cannot
be read: run plakar check, then plakar repair.`,
  exit: [],
  flags: [
    { name: 'dry-run', kind: 'bool', help: 'print what would be done, change nothing' },
    {
      name: 'max-unused',
      kind: 'string',
      arg: 'PERCENT',
      help: 'repack a pack when more than PERCENT of it is unused (default 5)',
    },
    { name: 'max-repack', kind: 'string', arg: 'SIZE', help: 'repack at most SIZE of packs in this run' },
  ],
  parse(p) {
    if (p.args.length > 0) throw usageError('prune', `unexpected argument "${p.args[0]}"`)
    const unused = flagString(p, 'max-unused')
    const repack = flagString(p, 'max-repack')
    return {
      dryRun: flagBool(p, 'dry-run'),
      maxUnused: unused === undefined ? 5 : parsePercent('prune', 'max-unused', unused),
      maxRepack: repack === undefined ? undefined : parseSize('prune', 'max-repack', repack),
    }
  },
  run: runPrune,
}
