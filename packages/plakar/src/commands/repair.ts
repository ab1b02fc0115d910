import { type RepairReport, repair } from '../maintenance/index.js'
import { listHeaders } from '../snapshot/index.js'
import { damageLines } from './check.js'
import { type Command, EXIT, flagBool, usageError } from './command.js'
import type { Context } from './context.js'
import { duration } from './format.js'

export interface RepairCommandOptions {
  readonly dryRun: boolean
}

export async function runRepair(ctx: Context, opts: RepairCommandOptions): Promise<number> {
  return ctx.withRepository(async (repo) => {
    const started = Date.now()
    const unreadable: { uuid: string; error: string }[] = []
    const report = await repair(repo, {
      dryRun: opts.dryRun,
      workers: ctx.global.cpus,
      unreadableSnapshots: unreadable,
      targets: async () => {
        unreadable.length = 0
        const headers = await listHeaders(repo, (uuid, err) =>
          unreadable.push({ uuid, error: (err as Error).message }),
        )
        return headers.map((header) => ({ header, path: '/' }))
      },
    })
    for (const line of lines(report)) ctx.out(`${line}\n`)
    const damaged = report.check.problems > 0 || report.unreadablePacks.length > 0
    ctx.out(`${summary(report, (Date.now() - started) / 1000)}\n`)
    return damaged ? EXIT.DAMAGED : EXIT.OK
  })
}

function lines(r: RepairReport): string[] {
  const would = r.dryRun ? 'would be ' : ''
  const out = [
    `index: ${r.packs} packs read, ${r.added} ${would}newly indexed; ${r.blobs} blobs; ` +
      `${r.damagedIndexes.length} damaged index object${r.damagedIndexes.length === 1 ? '' : 's'} ${would}replaced` +
      (r.dryRun ? '' : `; ${r.indexes.before} index objects -> ${r.indexes.after}`),
  ]
  for (const i of r.damagedIndexes) out.push(`${i.error} (replaced)`)
  for (const p of r.unreadablePacks) out.push(`pack ${p.pack}: cannot be read (${p.error}), left in place`)
  out.push(...damageLines(r.check))
  for (const s of r.snapshots) {
    if (s.lost === 0) continue
    out.push(
      `snapshot ${s.uuid.slice(0, 8)}: data lost under ${s.lost} path${s.lost === 1 ? '' : 's'} (listed above); ` +
        `the rest of its ${s.files} files restore whole (plakar pull restores them, exit status 3)`,
    )
  }
  return out
}

function summary(r: RepairReport, seconds: number): string {
  const hurt = r.snapshots.filter((s) => s.lost > 0).length + r.check.unreadableSnapshots.length
  const state =
    hurt === 0 && r.unreadablePacks.length === 0
      ? 'every snapshot restores whole'
      : `${hurt} snapshot${hurt === 1 ? '' : 's'} lost data, ${r.snapshots.length - hurt} restore whole`
  return `repair: ${r.dryRun ? '(dry run) ' : ''}${state} (no data was read: plakar check reads it) in ${duration(seconds)}`
}

export const repairCommand: Command<RepairCommandOptions> = {
  name: 'repair',
  summary: 'rebuild the index from the packs, and name what is lost',
  usage: 'repair [-dry-run]',
  help: `Rebuild the index from the packs alone: read every pack's own header, write index
objects that name every readable pack, then remove the old index objects (damaged ones
included). Packs whose header cannot be read are listed and left in place. Then every
snapshot is checked without reading data (as check -fast): each snapshot:path that lost
data is named, and each damaged snapshot's other files restore whole (plakar pull restores
them and exits with status 3). -dry-run reads the packs and reports, writing nothing (the
losses are then those of the index as it is). Only one repair or prune runs at a time;
backups may run beside it.`,
  exit: ['4  data is lost (listed on stdout), or a pack cannot be read'],
  flags: [{ name: 'dry-run', kind: 'bool', help: 'report, write nothing' }],
  parse(p) {
    if (p.args.length > 0) throw usageError('repair', `unexpected argument "${p.args[0]}"`)
    return { dryRun: flagBool(p, 'dry-run') }
  },
  run: runRepair,
}
