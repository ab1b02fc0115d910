import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { isPlakarError, MaintenanceError } from '../errors.js'
import type {
  BlobId,
  BlobType,
  IndexedPack,
  Lock,
  LockInfo,
  RepositoryMaintenance,
} from '../repository/index.js'
import { STALE_MS } from '../repository/index.js'
import { decodeHeader, forEachUsedBlob, type SnapshotRepository, TreeReader } from '../snapshot/index.js'

/**
 * Prune: gives back the space of blobs no snapshot uses, safely while others push. The
 * protocol is written in docs/plakar-maintenance.md ("Prune while others push"); in short:
 *
 *  1. Take the exclusive maint lock. List the packs, read every index object, and mark the
 *     blobs every snapshot uses (a temporary SQLite file: memory stays flat).
 *  2. Plan: packs whose every blob is unused go; packs whose unused share exceeds
 *     `maxUnused` are repacked (within `maxRepack` bytes); packs no index names that are
 *     older than every writer's lock are leftovers of killed writers.
 *  3. Write a doom list naming the packs to go. A writer that takes its lock from now on
 *     sees it and deduplicates against none of their blobs.
 *  4. Wait for every writer whose lock was there when the doom list was written (or judge
 *     it stale), then mark the snapshots committed since step 1: a pack holding a blob one
 *     of them uses is spared.
 *  5. Repack the used blobs of the packs to repack, write index objects that name every
 *     pack that stays, delete the old index objects, then the doomed packs, then the
 *     leftovers; Store.clean; delete the doom lists; release the lock.
 * A crash anywhere leaves more than needed, never less: the next prune finishes the work.
 */

/** What prune needs from a repository (Repository has it). */
export interface PruneRepository extends SnapshotRepository {
  maintenance(): RepositoryMaintenance
  loadBlobs(ids: readonly BlobId[]): Promise<(Uint8Array | Error)[]>
  readonly damagedIndexes?: readonly { readonly name: string; readonly error: string }[]
}

export interface PruneOptions {
  readonly dryRun?: boolean
  /** Repack a pack when more than this percentage of its bytes is unused (default 5). */
  readonly maxUnused?: number
  /** At most this many bytes of packs are repacked in one run (default: no limit). */
  readonly maxRepack?: number
  /**
   * How much older than the oldest writer's lock a pack no index names must be to count as
   * a killed writer's leftover: the clock skew allowed between hosts (default STALE_MS, 5 min).
   */
  readonly leftoverSlackMs?: number
  /** How often to look again while waiting for writers (default 1 s). */
  readonly pollMs?: number
  readonly progress?: (event: PruneEvent) => void
}

export type PruneEvent =
  | { readonly phase: 'mark'; readonly snapshots: number; readonly of: number }
  | { readonly phase: 'wait'; readonly writers: number }
  | { readonly phase: 'repack'; readonly blobs: number; readonly of: number }
  | { readonly phase: 'delete'; readonly packs: number; readonly of: number }

export interface PackCount {
  readonly packs: number
  readonly bytes: number
}

export interface PruneReport {
  readonly dryRun: boolean
  readonly snapshots: number
  /** The packs before, as listed. */
  readonly before: PackCount
  readonly unusedBlobs: number
  readonly unusedBytes: number
  /** Packs deleted whole (every blob unused). */
  readonly deleted: PackCount
  /** Packs repacked (their used blobs copied, the packs deleted). */
  readonly repacked: PackCount & { readonly blobs: number; readonly written: number }
  /** Packs no index named, left by killed writers. */
  readonly leftovers: PackCount
  /** Packs a snapshot committed during the prune turned out to use: kept. */
  readonly spared: number
  readonly indexes: { readonly before: number; readonly after: number }
  /** Leftovers of interrupted puts (Store.clean). */
  readonly cleaned: number
  /** Writers waited for. */
  readonly waited: number
  /** Bytes given back: deleted, repacked and leftover packs less what repacking wrote. */
  readonly freed: number
}

/** Blobs repacked per read: at most this many, and about this many bytes. */
const BATCH = 4096
const BATCH_BYTES = 8 << 20

export async function prune(repo: PruneRepository, opts: PruneOptions = {}): Promise<PruneReport> {
  const maint = repo.maintenance()
  const lock = opts.dryRun ? null : await maint.lockExclusive()
  const dir = mkdtempSync(join(tmpdir(), 'plakar-prune-'))
  const db = new Database(join(dir, 'prune.db'))
  try {
    return await new Prune(repo, maint, db, opts, lock).run()
  } catch (err) {
    // The temporary database's own failures (a full disk) are one line like any other.
    if ((err as Error)?.name === 'SqliteError')
      throw new MaintenanceError(
        'MAINT_UNSAFE',
        `prune's temporary database in ${dir}: ${(err as Error).message}`,
        { cause: err },
      )
    throw err
  } finally {
    db.close()
    rmSync(dir, { recursive: true, force: true })
    await lock?.release()
  }
}

function unsafe(message: string, cause?: unknown): MaintenanceError {
  return new MaintenanceError('MAINT_UNSAFE', message, cause === undefined ? undefined : { cause })
}

class Prune {
  private readonly reader: TreeReader
  private readonly maxUnused: number

  constructor(
    private readonly repo: PruneRepository,
    private readonly maint: RepositoryMaintenance,
    private readonly db: Database.Database,
    private readonly opts: PruneOptions,
    private readonly lock: Lock | null,
  ) {
    this.reader = new TreeReader(repo)
    this.maxUnused = opts.maxUnused ?? 5
    // A scratch database: no durability wanted. OFF is refused here (better-sqlite3 opens in
    // defensive mode), and the default journal costs a file created and deleted per commit;
    // in memory, it holds only the pages a transaction changes that existed before it.
    db.pragma('journal_mode = MEMORY')
    db.pragma('synchronous = OFF')
    db.exec(`
      CREATE TABLE packs (pack TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime INTEGER NOT NULL,
        indexed INTEGER NOT NULL DEFAULT 0, total INTEGER NOT NULL DEFAULT 0, live INTEGER NOT NULL DEFAULT 0,
        fate TEXT) WITHOUT ROWID;
      CREATE TABLE entries (n INTEGER PRIMARY KEY, pack TEXT NOT NULL, id BLOB NOT NULL, type TEXT NOT NULL,
        offset INTEGER NOT NULL, length INTEGER NOT NULL, raw INTEGER NOT NULL, live INTEGER NOT NULL DEFAULT 0,
        UNIQUE (pack, offset));
      -- Filled in arrival order, then sorted into entries and used: random keys inserted into
      -- B-trees larger than the page cache cost a read and a write each.
      CREATE TABLE entries_raw (pack TEXT NOT NULL, id BLOB NOT NULL, type TEXT NOT NULL, offset INTEGER NOT NULL,
        length INTEGER NOT NULL, raw INTEGER NOT NULL);
    `)
  }

  async run(): Promise<PruneReport> {
    const { maint, db } = this
    await maint.sync()
    const damaged = this.repo.damagedIndexes ?? []
    if (damaged.length > 0)
      throw unsafe(
        `index object ${damaged[0]!.name} is damaged: run plakar repair first (nothing was pruned)`,
      )

    // 1. What there is.
    const startedAt = Date.now()
    // A stale writer's lock (a killed push) goes now: it would hold back the leftover cutoff
    // forever, and its holder, if it wakes, must fail its assertHeld.
    const writersAtStart: LockInfo[] = []
    for (const w of await maint.listLocks('push')) {
      if (maint.isStale(w)) await maint.deleteLock(w.name)
      else writersAtStart.push(w)
    }
    const oldDooms = await maint.listDooms()
    // Snapshots before index objects: a push that commits in between is marked by spare(),
    // and the blobs S0 uses are all named by the index objects listed after it.
    const s0 = await this.repo.listSnapshots()
    // Index objects before packs: a pack is put before any index names it, so every pack a
    // listed index names is in the pack listing unless it is truly gone.
    const indexes: string[] = []
    for await (const info of maint.listIndexes()) indexes.push(info.name)
    const addPack = db.prepare('INSERT OR REPLACE INTO packs (pack, size, mtime) VALUES (?, ?, ?)')
    const listed: { name: string; size: number; mtime: number }[] = []
    for await (const info of maint.listPacks()) listed.push(info)
    db.transaction(() => {
      for (const p of listed) addPack.run(p.name, p.size, p.mtime)
    })()
    const addEntry = db.prepare('INSERT INTO entries_raw VALUES (?, ?, ?, ?, ?, ?)')
    const indexed = db.prepare('UPDATE packs SET indexed = 1 WHERE pack = ?')
    // One transaction for them all: a damaged object stops the prune, nothing to undo.
    db.exec('BEGIN')
    for (const name of indexes) {
      try {
        await maint.forEachIndexPack(name, (p) => {
          indexed.run(p.pack)
          for (const e of p.entries) addEntry.run(p.pack, e.id, e.type, e.offset, e.length, e.rawLength)
        })
      } catch (err) {
        if (isPlakarError(err, 'REPO_CORRUPT') || isPlakarError(err, 'REPO_UNSUPPORTED'))
          throw unsafe(`${(err as Error).message}: run plakar repair first (nothing was pruned)`, err)
        throw err
      }
    }
    db.exec('COMMIT')
    // OR IGNORE: a pack two index objects name (a rebuilt index beside the first) counts once.
    db.exec(`INSERT OR IGNORE INTO entries (pack, id, type, offset, length, raw)
        SELECT pack, id, type, offset, length, raw FROM entries_raw ORDER BY pack, offset, rowid;
      DROP TABLE entries_raw;
      CREATE INDEX entries_id ON entries (id);`)
    const before = db
      .prepare('SELECT count(*) AS packs, coalesce(sum(size), 0) AS bytes FROM packs')
      .get() as PackCount

    await this.mark(s0)
    this.chooseLive()

    // 2. Plan.
    const repackable = db
      .prepare(
        // The share of the pack's blob bytes, not of its size: a small pack's header is no
        // waste that repacking would give back (it would only make another small pack).
        `SELECT pack, size, live FROM packs WHERE indexed = 1 AND live > 0 AND (total - live) * 100.0 > total * ?
         ORDER BY (total - live) * 1.0 / total DESC`,
      )
      .all(this.maxUnused) as { pack: string; size: number; live: number }[]
    const fate = db.prepare('UPDATE packs SET fate = ? WHERE pack = ?')
    db.prepare("UPDATE packs SET fate = 'delete' WHERE indexed = 1 AND live = 0").run()
    let budget = this.opts.maxRepack ?? Number.POSITIVE_INFINITY
    db.transaction(() => {
      for (const p of repackable) {
        if (p.size > budget) continue
        budget -= p.size
        fate.run('repack', p.pack)
      }
    })()
    const cutoff =
      Math.min(startedAt, ...writersAtStart.map((w) => w.created)) - (this.opts.leftoverSlackMs ?? STALE_MS)
    db.prepare("UPDATE packs SET fate = 'leftover' WHERE indexed = 0 AND mtime < ?").run(cutoff)
    const unused = db
      .prepare(
        'SELECT count(*) AS n, coalesce(sum(length), 0) AS bytes FROM entries WHERE live = 0 AND pack IN (SELECT pack FROM packs)',
      )
      .get() as { n: number; bytes: number }
    const count = (f: string) =>
      db
        .prepare('SELECT count(*) AS packs, coalesce(sum(size), 0) AS bytes FROM packs WHERE fate = ?')
        .get(f) as PackCount
    const report = {
      dryRun: this.opts.dryRun === true,
      snapshots: s0.length,
      before,
      unusedBlobs: unused.n,
      unusedBytes: unused.bytes,
      indexes: { before: indexes.length, after: indexes.length },
      cleaned: 0,
      waited: 0,
      spared: 0,
    }
    if (this.opts.dryRun) {
      const deleted = count('delete')
      const repacked = count('repack')
      const leftovers = count('leftover')
      const blobs = this.db
        .prepare(
          "SELECT count(*) FROM entries WHERE live = 1 AND pack IN (SELECT pack FROM packs WHERE fate = 'repack')",
        )
        .pluck()
        .get() as number
      const written = (
        db
          .prepare(
            "SELECT coalesce(sum(length), 0) AS n FROM entries WHERE live = 1 AND pack IN (SELECT pack FROM packs WHERE fate = 'repack')",
          )
          .get() as { n: number }
      ).n
      return {
        ...report,
        deleted,
        repacked: { ...repacked, blobs, written },
        leftovers,
        freed: deleted.bytes + repacked.bytes + leftovers.bytes - written,
      }
    }

    // 3. The doom list: from here on, no writer that starts deduplicates against these packs.
    const doomed = db
      .prepare("SELECT pack FROM packs WHERE fate IN ('delete', 'repack')")
      .pluck()
      .all() as string[]
    const doom = doomed.length > 0 ? await maint.writeDoom(doomed) : null
    await maint.sync()

    // 4. Writers that may have deduplicated against them before they could see the list.
    const waited = doom === null ? 0 : await this.waitForWriters()
    const spared = doom === null ? 0 : await this.spare(new Set(s0))

    // 5. Repack, supersede, delete.
    const repackedCount = count('repack')
    const { blobs, written } = await this.repack()
    const deleted = count('delete')
    const after = await this.supersede(indexes)
    const gone = db
      .prepare("SELECT pack FROM packs WHERE fate IN ('delete', 'repack') ORDER BY pack")
      .pluck()
      .all() as string[]
    let done = 0
    for (const pack of gone) {
      await this.assertLocked()
      await maint.deletePack(pack)
      this.opts.progress?.({ phase: 'delete', packs: ++done, of: gone.length })
    }
    // Leftovers: a pack some index names by now (a writer that finished) stays.
    await maint.sync()
    const stray = db.prepare("SELECT pack FROM packs WHERE fate = 'leftover'").pluck().all() as string[]
    let strayGone: PackCount = { packs: 0, bytes: 0 }
    const sizeOf = db.prepare('SELECT size FROM packs WHERE pack = ?').pluck()
    // A damaged index object may name any of them: then none goes.
    const unsure = (this.repo.damagedIndexes ?? []).length > 0
    for (const pack of stray) {
      if (unsure || maint.hasPack(pack)) continue
      await maint.deletePack(pack)
      strayGone = { packs: strayGone.packs + 1, bytes: strayGone.bytes + (sizeOf.get(pack) as number) }
    }
    const cleaned = await maint.clean(STALE_MS)
    for (const name of oldDooms) await maint.deleteLock(name)
    if (doom !== null) await maint.deleteLock(doom)
    await maint.sync()
    return {
      ...report,
      indexes: { before: indexes.length, after },
      deleted,
      repacked: { ...repackedCount, blobs, written },
      leftovers: strayGone,
      spared,
      waited,
      cleaned,
      freed: deleted.bytes + repackedCount.bytes + strayGone.bytes - written,
    }
  }

  private async assertLocked(): Promise<void> {
    await this.lock?.assertHeld()
  }

  /**
   * Marks every blob the snapshots use (`used` holds them and only them afterwards). Any
   * snapshot that cannot be walked stops the prune. A directory met again, in this snapshot
   * or an earlier one of this mark, is skipped whole: its id names its subtree, already
   * marked. The mark is one transaction over tables made for it (nothing to journal), so the
   * walk's lookups see its own rows without a commit per directory.
   */
  private async mark(uuids: readonly string[]): Promise<void> {
    const db = this.db
    db.exec(`DROP TABLE IF EXISTS used;
      CREATE TABLE used_raw (id BLOB NOT NULL);
      -- The directories this mark has walked.
      CREATE TABLE trees (id BLOB PRIMARY KEY) WITHOUT ROWID;
      BEGIN`)
    const add = db.prepare('INSERT INTO used_raw (id) VALUES (?)')
    const tree = db.prepare('INSERT OR IGNORE INTO trees (id) VALUES (?)')
    let done = 0
    try {
      for (const uuid of uuids) {
        try {
          const header = decodeHeader(await this.repo.getSnapshot(uuid), uuid)
          await forEachUsedBlob(this.reader, header.root, (id) => add.run(id), {
            firstVisit: (id) => tree.run(id).changes === 1,
          })
        } catch (err) {
          // A snapshot removed meanwhile (rm) uses nothing any more.
          if (isPlakarError(err, 'REPO_SNAPSHOT_NOT_FOUND')) continue
          if (isPlakarError(err))
            throw unsafe(
              `snapshot ${uuid.slice(0, 8)} cannot be read (${(err as Error).message}): prune cannot know what it uses; run plakar check (nothing was pruned)`,
              err,
            )
          throw err
        }
        this.opts.progress?.({ phase: 'mark', snapshots: ++done, of: uuids.length })
      }
    } finally {
      db.exec('COMMIT')
    }
    db.exec(`CREATE TABLE used (id BLOB PRIMARY KEY) WITHOUT ROWID;
      INSERT OR IGNORE INTO used (id) SELECT id FROM used_raw ORDER BY id;
      DROP TABLE used_raw; DROP TABLE trees`)
  }

  /**
   * One copy of each used blob is live: the first indexed copy in a pack that exists. Every
   * used blob must have one; otherwise data is already lost and prune stops.
   */
  private chooseLive(): void {
    const db = this.db
    db.exec(`
      UPDATE entries SET live = 1 WHERE n IN (
        SELECT min(e.n) FROM entries e JOIN used u ON u.id = e.id
        WHERE e.pack IN (SELECT pack FROM packs) GROUP BY e.id);
    `)
    const lost = db
      .prepare('SELECT count(*) FROM used WHERE id NOT IN (SELECT id FROM entries WHERE live = 1)')
      .pluck()
      .get() as number
    if (lost > 0)
      throw unsafe(
        `${lost} blob(s) in use are in no pack of the repository: run plakar check to see what is damaged (nothing was pruned)`,
      )
    db.exec(`
      UPDATE packs SET live = coalesce((SELECT sum(length) FROM entries e WHERE e.pack = packs.pack AND e.live = 1), 0),
        total = coalesce((SELECT sum(length) FROM entries e WHERE e.pack = packs.pack), 0);
    `)
  }

  /** Waits until every writer that holds a lock now has released it, or is stale. */
  private async waitForWriters(): Promise<number> {
    const waiting = new Set((await this.maint.listLocks('push')).map((l) => l.name))
    const count = waiting.size
    const poll = this.opts.pollMs ?? 1000
    while (waiting.size > 0) {
      const now: LockInfo[] = await this.maint.listLocks('push')
      const present = new Map(now.map((l) => [l.name, l]))
      for (const name of [...waiting]) {
        const l = present.get(name)
        if (l === undefined) waiting.delete(name)
        else if (this.maint.isStale(l)) {
          // Removed, so that its holder, if it comes back, fails assertHeld and commits nothing.
          await this.maint.deleteLock(name)
          waiting.delete(name)
        }
      }
      if (waiting.size === 0) break
      this.opts.progress?.({ phase: 'wait', writers: waiting.size })
      await this.assertLocked()
      await new Promise((r) => setTimeout(r, poll))
    }
    return count
  }

  /** Snapshots committed since the mark: a doomed pack holding a blob they use is spared. */
  private async spare(seen: ReadonlySet<string>): Promise<number> {
    const fresh = (await this.repo.listSnapshots()).filter((u) => !seen.has(u))
    if (fresh.length === 0) return 0
    await this.mark(fresh)
    const spared = this.db
      .prepare(
        `SELECT DISTINCT pack FROM entries WHERE id IN (SELECT id FROM used)
         AND pack IN (SELECT pack FROM packs WHERE fate IN ('delete', 'repack'))`,
      )
      .pluck()
      .all() as string[]
    const keep = this.db.prepare('UPDATE packs SET fate = NULL WHERE pack = ?')
    this.db.transaction(() => {
      for (const p of spared) keep.run(p)
    })()
    return spared.length
  }

  /** Copies the live blobs of the packs to repack into new packs, indexed before it returns. */
  private async repack(): Promise<{ blobs: number; written: number }> {
    const entries = this.db
      .prepare(
        "SELECT id, type, length FROM entries WHERE live = 1 AND pack IN (SELECT pack FROM packs WHERE fate = 'repack') ORDER BY pack, offset",
      )
      .iterate() as IterableIterator<{ id: Buffer; type: BlobType; length: number }>
    const writer = this.maint.writer()
    let written = 0
    let blobs = 0
    try {
      // In batches off the cursor: memory holds one batch, whatever the number to copy.
      for (;;) {
        const batch: { id: Buffer; type: BlobType }[] = []
        let bytes = 0
        for (let r = entries.next(); !r.done; r = entries.next()) {
          batch.push(r.value)
          bytes += r.value.length
          if (batch.length >= BATCH || bytes >= BATCH_BYTES) break
        }
        if (batch.length === 0) break
        await this.assertLocked()
        // Moved as stored, each authenticated on the way: nothing decompressed or sealed again.
        const copied = await writer.copyBlobs(batch.map((b) => b.id))
        for (const [k, c] of copied.entries()) {
          if (c instanceof Error)
            throw unsafe(`blob ${batch[k]!.id.toString('hex')} cannot be read for repacking: ${c.message}`, c)
          written += c
        }
        blobs += batch.length
        this.opts.progress?.({ phase: 'repack', blobs, of: blobs })
      }
      await writer.flush()
    } finally {
      entries.return?.()
      await writer.close()
    }
    return { blobs, written }
  }

  /**
   * Index objects naming every pack that stays, with its entries as the old ones had them;
   * then the old index objects go (RepositoryMaintenance.supersede). Index objects written
   * meanwhile (writers, the repack) are not among `old` and stay.
   */
  private async supersede(old: readonly string[]): Promise<number> {
    const packs = this.db
      .prepare('SELECT pack FROM packs WHERE indexed = 1 AND fate IS NULL ORDER BY pack')
      .pluck()
      .all() as string[]
    const entriesOf = this.db.prepare(
      'SELECT id, type, offset, length, raw FROM entries WHERE pack = ? ORDER BY offset',
    )
    function* kept(): Generator<IndexedPack> {
      for (const pack of packs)
        yield {
          pack,
          entries: (
            entriesOf.all(pack) as {
              id: Buffer
              type: BlobType
              offset: number
              length: number
              raw: number
            }[]
          ).map((e) => ({ id: e.id, type: e.type, offset: e.offset, length: e.length, rawLength: e.raw })),
        }
    }
    await this.maint.supersede(kept(), old, () => this.assertLocked())
    let now = 0
    for await (const _ of this.maint.listIndexes()) now++
    return now
  }
}
