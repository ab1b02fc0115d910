/**
 * clone: an exact replica of a repository in another store, of any backend. Same config,
 * same keys, same packs, index and snapshot objects, byte for byte; so the same id and
 * passphrase. Nothing is decrypted or sealed again: objects are copied as they are stored,
 * each proven genuine first (RepositoryObjects.verify).
 *
 * CONTRACT
 * - The destination is coherent at every moment: objects are copied kind by kind in
 *   COPIED_KINDS order (config and keys, packs, indexes, snapshots), each kind durable before
 *   the next begins. A snapshot visible there can be restored whole, whenever the copy stops.
 * - Resumable: a destination that already holds the repository's config is taken up where
 *   it stopped; objects already there (same name, same size: puts are atomic, so present
 *   means whole) are not read again. One that holds another config is refused
 *   (TRANSFER_MISMATCH), as is an object there whose size differs from the source's.
 * - Nothing in the destination is deleted: objects it holds that the source lacks (a prune
 *   of the source since the last clone, or writes to the copy) are counted, and left.
 * - A source that changes as the copy runs: objects added after a pass listed them wait for
 *   the next clone; objects that vanish (rm, prune) make the pass run again over a fresh
 *   listing, since a prune's new packs and indexes replace them. After MAX_PASSES passes
 *   that each saw objects vanish, TRANSFER_UNSTABLE. A vanished snapshot alone (rm) needs
 *   no new pass.
 * - A destination taken up is first cleaned of what interrupted puts left there (temp files
 *   of writers known dead: Store.clean), so the copy ends exact.
 * - Memory: `concurrency` objects in flight (packs are whole objects, 16 MiB by default).
 */
import { isPlakarError, TransferError } from '../errors.js'
import { COPIED_KINDS, type CopiedKind, type RepositoryObjects, STALE_MS } from '../repository/index.js'
import type { Store } from '../storage/store.js'
import { TransferProgress } from './progress.js'

const MAX_PASSES = 5
const DEFAULT_CONCURRENCY = 4

export interface CloneOptions {
  readonly progress?: TransferProgress
  /** Objects in flight (default 4). */
  readonly concurrency?: number
}

export interface CloneReport {
  readonly copied: number
  readonly copiedBytes: number
  /** Objects the destination already held. */
  readonly present: number
  readonly presentBytes: number
  /** Objects of the destination that the source does not hold (left alone). */
  readonly extra: number
  /** Packs copied and the blobs they hold, all authenticated on the way. */
  readonly packs: number
  readonly blobs: number
  readonly snapshots: number
  readonly passes: number
  /** The destination was created by this clone (not resumed). */
  readonly created: boolean
  /** Leftovers of interrupted puts removed from the destination (Store.clean). */
  readonly leftovers: number
}

type Listing = Map<CopiedKind, Map<string, number>>

async function listAll(
  list: (kind: CopiedKind) => AsyncIterable<{ name: string; size: number }>,
): Promise<Listing> {
  const out: Listing = new Map()
  // Snapshots first, packs last: what a snapshot listed here needs was published before it.
  for (const kind of [...COPIED_KINDS].reverse()) {
    const names = new Map<string, number>()
    for await (const info of list(kind)) names.set(info.name, info.size)
    out.set(kind, names)
  }
  return out
}

/** Runs `work` over `items` with at most `n` at once; the first failure stops the rest. */
async function each<T>(items: readonly T[], n: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  let failed = false
  const lane = async () => {
    while (!failed && next < items.length) {
      const item = items[next++]!
      try {
        await work(item)
      } catch (err) {
        failed = true
        throw err
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, lane))
}

/** Opens the destination, making it when absent; true when this call created it. */
async function prepare(source: RepositoryObjects, dest: Store): Promise<boolean> {
  let created = false
  try {
    await dest.open()
  } catch (err) {
    if (!isPlakarError(err, 'STORAGE_NOT_FOUND')) throw err
    try {
      await dest.create()
      created = true
    } catch (e) {
      // Made meanwhile, or half made by a clone that was killed: take it up.
      if (!isPlakarError(e, 'STORAGE_EXISTS')) throw e
    }
  }
  if ((await dest.stat('config', 'config')) !== undefined) {
    const theirs = await dest.get('config', 'config')
    const ours = await source.get('config', 'config')
    if (!Buffer.from(theirs).equals(ours)) {
      throw new TransferError(
        'TRANSFER_MISMATCH',
        `${dest.location} holds another repository: clone needs an empty destination or an earlier clone of ${source.location}`,
      )
    }
  }
  return created
}

export async function clone(
  source: RepositoryObjects,
  dest: Store,
  opts: CloneOptions = {},
): Promise<CloneReport> {
  const progress = opts.progress ?? new TransferProgress()
  const concurrency = Math.max(1, opts.concurrency ?? DEFAULT_CONCURRENCY)
  if (dest.location === source.location) {
    throw new TransferError('TRANSFER_MISMATCH', `${dest.location}: the destination is the source itself`)
  }
  const created = await prepare(source, dest)
  // What a killed clone's puts left (temp files of a dead process), never a whole object.
  const leftovers = created ? 0 : await dest.clean(STALE_MS)
  let copied = 0
  let copiedBytes = 0
  let packs = 0
  let blobs = 0
  let present = 0
  let presentBytes = 0
  let extra = 0
  let snapshots = 0
  for (let pass = 1; ; pass++) {
    const have = await listAll((kind) => source.list(kind))
    const there = await listAll((kind) => dest.list(kind))
    const todo: [CopiedKind, string, number][] = []
    // What was there before this clone: a later pass finds this clone's own copies there.
    const first = pass === 1
    extra = 0
    for (const kind of COPIED_KINDS) {
      const theirs = there.get(kind)!
      for (const [name, size] of have.get(kind)!) {
        const got = theirs.get(name)
        if (got === undefined) todo.push([kind, name, size])
        else if (got !== size) {
          throw new TransferError(
            'TRANSFER_MISMATCH',
            `${dest.location}: ${kind} ${name} has ${got} bytes where the source's has ${size} (damaged?): remove it there, then clone again`,
          )
        } else if (first) {
          present++
          presentBytes += size
        }
      }
      for (const name of theirs.keys()) if (!have.get(kind)!.has(name)) extra++
    }
    snapshots = have.get('snapshot')!.size
    progress.total = progress.bytes + todo.reduce((sum, [, , size]) => sum + size, 0)
    let vanished = false
    for (const kind of COPIED_KINDS) {
      const batch = todo.filter(([k]) => k === kind)
      await each(batch, concurrency, async ([, name]) => {
        let bytes: Uint8Array
        try {
          bytes = await source.get(kind, name)
        } catch (err) {
          if (!isPlakarError(err, 'STORAGE_NOT_FOUND')) throw err
          if (kind === 'snapshot') snapshots--
          else vanished = true
          return
        }
        const n = source.verify(kind, name, bytes)
        try {
          await dest.put(kind, name, bytes)
        } catch (err) {
          if (!isPlakarError(err, 'STORAGE_EXISTS')) throw err
          throw new TransferError(
            'TRANSFER_MISMATCH',
            `${dest.location}: ${kind} ${name} is there with other bytes (damaged?): remove it there, then clone again`,
            { cause: err },
          )
        }
        copied++
        copiedBytes += bytes.byteLength
        if (kind === 'pack') {
          packs++
          blobs += n
        }
        progress.files++
        progress.bytes += bytes.byteLength
      })
    }
    if (!vanished) {
      return {
        copied,
        copiedBytes,
        present,
        presentBytes,
        extra,
        packs,
        blobs,
        snapshots,
        passes: pass,
        created,
        leftovers,
      }
    }
    if (pass >= MAX_PASSES) {
      throw new TransferError(
        'TRANSFER_UNSTABLE',
        `${source.location}: objects vanished during each of ${MAX_PASSES} passes (a prune running?): clone again once it is done`,
      )
    }
  }
}
