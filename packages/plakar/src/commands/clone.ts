import { type CloneReport, clone, TransferProgress } from '../transfer/index.js'
import { type Command, usageError } from './command.js'
import type { Context } from './context.js'
import { duration, humanSize } from './format.js'
import { ProgressLine } from './progress.js'

export interface CloneCommandOptions {
  readonly destination: string
}

export async function runClone(ctx: Context, opts: CloneCommandOptions): Promise<number> {
  return ctx.withRepository(async (repo) => {
    const started = Date.now()
    const dest = ctx.repositories.store(opts.destination)
    const progress = new TransferProgress()
    const line = new ProgressLine(ctx.io.stderr, 'clone', progress, () => progress.total, 'objects').start()
    let report: CloneReport
    try {
      report = await clone(repo.objects(), dest, { progress })
    } finally {
      line.stop()
      await dest.close()
    }
    ctx.out(`${summary(repo.store.location, dest.location, report, (Date.now() - started) / 1000)}\n`)
    return 0
  })
}

function summary(from: string, to: string, r: CloneReport, seconds: number): string {
  const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`
  const parts = [
    `clone: ${from} -> ${to}${r.created ? ' (created)' : ''}: ${plural(r.copied, 'object')} copied ` +
      `(${humanSize(r.copiedBytes)}; ${plural(r.packs, 'pack')}, ${plural(r.blobs, 'blob')} verified)`,
  ]
  if (r.present > 0) parts.push(`${plural(r.present, 'object')} already there (${humanSize(r.presentBytes)})`)
  if (r.extra > 0) parts.push(`${plural(r.extra, 'object')} there that the source lacks, left alone`)
  parts.push(`${plural(r.snapshots, 'snapshot')} in ${duration(seconds)}`)
  return parts.join(', ')
}

export const cloneCommand: Command<CloneCommandOptions> = {
  name: 'clone',
  summary: 'make an exact replica of the repository at another location',
  usage: 'clone DESTINATION',
  help: `Copy the repository to DESTINATION, any location (a path, sqlite://, postgres://,
plakar://): the same configuration, keys, packs, indexes and snapshots, byte for byte, so
the copy has the same id and passphrase. Nothing is decrypted or encrypted again; each
object is verified before it is written (a pack must hash to its name, and its header and
every blob must authenticate), so damage is never copied. The copy is usable at every
moment: packs go before the indexes that name them, and those before the snapshots.

Run it again, after an interruption or later backups, and it copies only what DESTINATION
lacks. It never deletes there: objects the source no longer holds (after a prune) stay,
counted in the summary. A DESTINATION holding another repository is refused.`,
  flags: [],
  parse(p) {
    if (p.args.length === 0) throw usageError('clone', 'missing DESTINATION')
    if (p.args.length > 1) throw usageError('clone', `unexpected argument "${p.args[1]}"`)
    return { destination: p.args[0]! }
  },
  run: runClone,
}
