import { isPlakarError } from '../errors.js'
import type { IndexedPack, RepositoryMaintenance } from '../repository/index.js'
import { type CheckReport, type CheckRepository, type CheckTarget, check } from './check.js'

/**
 * Repair: the index rebuilt from the packs alone, then what is lost named.
 *
 * 1. Under the exclusive maint lock (as prune), list the index objects, then the packs (the
 *    order prune uses: every pack a listed index names is in the pack listing).
 * 2. Read every pack's own header (verified). A pack whose header cannot be read is listed
 *    as unreadable and left alone; an old index object's entries for it are kept, since its
 *    blobs may be sound (each is verified when read).
 * 3. Write index objects naming exactly the readable packs (RepositoryMaintenance.supersede),
 *    durable, then delete the index objects of step 1. Index objects written meanwhile by a push stay.
 *    A crash in between leaves both, whose union is still a correct index.
 * 4. Check every snapshot without reading data (check -fast): each snapshot:path that lost
 *    data, and how many files of each snapshot restore whole.
 * -dry-run reads the headers and runs step 4 against the index as it is, writing nothing.
 */
export interface RepairRepository extends CheckRepository {
  readonly damagedIndexes?: readonly { readonly name: string; readonly error: string }[]
}

export interface RepairOptions {
  readonly dryRun?: boolean
  /** The snapshots to judge (all of them, readable). */
  readonly targets: () => Promise<readonly CheckTarget[]>
  readonly unreadableSnapshots?: readonly { readonly uuid: string; readonly error: string }[]
  readonly workers: number
  readonly progress?: (packsRead: number, of: number) => void
}

export interface RepairReport {
  readonly dryRun: boolean
  readonly packs: number
  /** Packs no readable index object named before the repair (now named). */
  readonly added: number
  readonly blobs: number
  readonly unreadablePacks: readonly { readonly pack: string; readonly error: string }[]
  /** Index objects that did not decode (replaced). */
  readonly damagedIndexes: readonly { readonly name: string; readonly error: string }[]
  readonly indexes: { readonly before: number; readonly after: number }
  /** What is still lost, per snapshot:path (check -fast over every snapshot, after the rebuild). */
  readonly check: CheckReport
  /** Per snapshot: files checked, and those that lost data. */
  readonly snapshots: readonly { readonly uuid: string; readonly files: number; readonly lost: number }[]
}

export async function repair(repo: RepairRepository, opts: RepairOptions): Promise<RepairReport> {
  const maint = repo.maintenance()
  const lock = opts.dryRun ? null : await maint.lockExclusive()
  try {
    const rebuilt = await rebuild(maint, opts, lock === null ? null : () => lock.assertHeld())
    await maint.sync()
    const targets = await opts.targets()
    const report = await check(repo, {
      targets,
      whole: false,
      fast: true,
      workers: opts.workers,
      ...(opts.unreadableSnapshots && { unreadableSnapshots: opts.unreadableSnapshots }),
    })
    return {
      ...rebuilt,
      dryRun: opts.dryRun === true,
      check: report,
      snapshots: perSnapshot(targets, report),
    }
  } finally {
    await lock?.release()
  }
}

async function rebuild(
  maint: RepositoryMaintenance,
  opts: RepairOptions,
  assertHeld: (() => Promise<void>) | null,
): Promise<Omit<RepairReport, 'check' | 'snapshots' | 'dryRun'>> {
  const old: string[] = []
  for await (const info of maint.listIndexes()) old.push(info.name)
  const known = new Set<string>()
  const damagedIndexes: { name: string; error: string }[] = []
  for (const name of old) {
    try {
      for (const p of await maint.readIndex(name)) known.add(p.pack)
    } catch (err) {
      if (!isPlakarError(err, 'REPO_CORRUPT') && !isPlakarError(err, 'REPO_UNSUPPORTED')) throw err
      damagedIndexes.push({ name, error: (err as Error).message })
    }
  }
  const listed: { name: string; size: number }[] = []
  for await (const info of maint.listPacks()) listed.push(info)
  const unreadablePacks: { pack: string; error: string }[] = []
  let added = 0
  let blobs = 0
  let read = 0
  async function* readable(): AsyncGenerator<IndexedPack> {
    for (const info of listed) {
      try {
        const p = await maint.readPackHeader(info.name, info.size)
        blobs += p.entries.length
        if (!known.has(info.name)) added++
        yield p
      } catch (err) {
        if (!isPlakarError(err, 'REPO_CORRUPT') && !isPlakarError(err, 'REPO_UNSUPPORTED')) throw err
        unreadablePacks.push({ pack: info.name, error: (err as Error).message })
      }
      opts.progress?.(++read, listed.length)
    }
    // A pack whose own header is damaged may still hold sound blobs that an old index object
    // locates: those entries stay named (check reads and judges each blob).
    if (unreadablePacks.length === 0) return
    const bad = new Set(unreadablePacks.map((u) => u.pack))
    for (const name of old) {
      if (damagedIndexes.some((d) => d.name === name)) continue
      for (const p of await maint.readIndex(name)) if (bad.has(p.pack)) yield p
    }
  }
  if (assertHeld === null) for await (const _ of readable());
  else await maint.supersede(readable(), old, assertHeld)
  let after = 0
  for await (const _ of maint.listIndexes()) after++
  return {
    packs: listed.length,
    added,
    blobs,
    unreadablePacks,
    damagedIndexes,
    indexes: { before: old.length, after: assertHeld === null ? old.length : after },
  }
}

function perSnapshot(targets: readonly CheckTarget[], report: CheckReport): RepairReport['snapshots'] {
  const lost = new Map<string, Set<string>>()
  const add = (uuid: string, path: string) => {
    if (!lost.has(uuid)) lost.set(uuid, new Set())
    lost.get(uuid)!.add(path)
  }
  for (const d of report.damagedBlobs) for (const l of d.losses) add(l.snapshot, l.path)
  for (const c of report.damagedContents) for (const l of c.losses) add(l.snapshot, l.path)
  for (const t of report.treeDamage) add(t.loss.snapshot, t.loss.path)
  return targets.map((t) => ({
    uuid: t.header.uuid,
    files: t.header.counts.files,
    lost: lost.get(t.header.uuid)?.size ?? 0,
  }))
}
