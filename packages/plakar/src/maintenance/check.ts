import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { isPlakarError } from '../errors.js'
import type {
  BlobLocation,
  BlobPool,
  BlobPoolOptions,
  IndexedPack,
  LocatedBlob,
  RepositoryMaintenance,
  SealedBatch,
} from '../repository/index.js'
import {
  type Entry,
  joinPath,
  locate,
  type SnapshotHeader,
  type SnapshotRepository,
  TreeReader,
} from '../snapshot/index.js'
import { CHECK_WORKER, type CheckReply } from './check-protocol.js'

/**
 * The integrity check: does every snapshot restore, and is the repository coherent?
 *
 * 1. Walk: every target (a snapshot, or a path in one) is walked through the snapshot
 *    layer's TreeReader, which reads and verifies each directory and chunk list on the way.
 *    The blobs each file uses, and which snapshot:path uses which content, go to a
 *    temporary SQLite file, so memory does not grow with the number of files.
 * 2. Locate: each blob used must be in the index, in a pack that exists and is long enough.
 *    -fast stops here: no data is read.
 * 3. Read: the blobs to read (those used; for the whole repository, every indexed blob) in
 *    pack and offset order, so each pack is read once, front to back, neighbours in one range
 *    (Repository.fetchBlobs), and opened on the repository's worker pool by check-worker.ts:
 *    authenticated, decompressed, checked against its id. `subset` keeps a share of the packs.
 * 4. For the whole repository, coherency besides: the index objects decode; every entry lies
 *    inside its pack and agrees with the pack's own header; packs no index names; indexed
 *    blobs no snapshot uses (reclaimable); snapshot objects that do not open.
 * Damage is reported per blob with every snapshot:path that loses data through it.
 */

/** What check needs from a repository (Repository has it). */
export interface CheckRepository extends SnapshotRepository {
  maintenance(): RepositoryMaintenance
  locateBlobs(ids: readonly Uint8Array[]): Promise<(BlobLocation | Error)[]>
  fetchBlobs(blobs: readonly LocatedBlob[]): Promise<SealedBatch>
  blobPool<P, R>(opts: BlobPoolOptions<unknown>): BlobPool<P, R>
}

/** A share of the packs: the n-th of m parts (1-based), or a random p percent. */
export type Subset = { readonly part: number; readonly of: number } | { readonly percent: number }

export interface CheckTarget {
  readonly header: SnapshotHeader
  /** Absolute path inside the snapshot; `/` for all of it. */
  readonly path: string
}

export interface CheckOptions {
  /** The snapshots (or paths) to check: for the whole repository, every snapshot. */
  readonly targets: readonly CheckTarget[]
  /** The whole repository: coherency and every indexed blob besides the targets. */
  readonly whole: boolean
  /** Snapshot objects that did not open (the caller listed them), for the report. */
  readonly unreadableSnapshots?: readonly { readonly uuid: string; readonly error: string }[]
  readonly fast: boolean
  readonly subset?: Subset
  /** Worker threads that open blobs. */
  readonly workers: number
  readonly progress?: (p: CheckProgress) => void
}

export interface CheckProgress {
  readonly phase: 'walk' | 'locate' | 'read' | 'coherency'
  readonly files: number
  readonly blobs: number
  readonly bytes: number
  /** Bytes the read phase will read; 0 before it. */
  readonly total: number
  readonly problems: number
}

/** One snapshot:path that loses data. */
export interface Loss {
  readonly snapshot: string
  readonly path: string
}

/** A blob that cannot be read, and what it takes with it. */
export interface DamagedBlob {
  readonly blob: string
  readonly pack: string | null
  readonly error: string
  readonly losses: readonly Loss[]
  /** More losses than `losses` holds (kept bounded). */
  readonly moreLosses: number
}

export interface CheckReport {
  readonly snapshots: number
  readonly files: number
  /** Distinct blobs proven present (and read, unless fast). */
  readonly blobs: number
  readonly bytesRead: number
  readonly packsRead: number
  readonly packsSkipped: number
  /** Directories or chunk lists that could not be read: whatever is below them is lost. */
  readonly treeDamage: readonly { readonly loss: Loss; readonly error: string }[]
  readonly damagedBlobs: readonly DamagedBlob[]
  readonly damagedIndexes: readonly { readonly name: string; readonly error: string }[]
  /** Packs whose header disagrees with the index, or cannot be read. */
  readonly damagedPacks: readonly { readonly pack: string; readonly error: string }[]
  readonly unreadableSnapshots: readonly { readonly uuid: string; readonly error: string }[]
  /** Packs no index names (left by an interrupted push; prune removes, repair indexes them). */
  readonly unindexedPacks: readonly { readonly pack: string; readonly size: number }[]
  /** Indexed blobs no snapshot uses, and their bytes in packs (whole repository only). */
  readonly unusedBlobs: number
  readonly unusedBytes: number
  /** Problems that lose or risk data: clean means none. */
  readonly problems: number
}

/** Losses named per damaged blob; the rest are counted. */
const MAX_LOSSES = 1000
/** Sealed bytes per batch sent to a worker. */
const BATCH_BYTES = 4 << 20
const BATCH_BLOBS = 4096
/** Blobs located per index query. */
const LOCATE_BATCH = 8192

export async function check(repo: CheckRepository, opts: CheckOptions): Promise<CheckReport> {
  const dir = mkdtempSync(join(tmpdir(), 'plakar-check-'))
  const db = new Database(join(dir, 'check.db'))
  try {
    return await new Check(repo, opts, db).run()
  } finally {
    db.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

function hex(id: Uint8Array): string {
  return Buffer.from(id).toString('hex')
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

interface LocRow {
  blob: Buffer
  pack: string
  offset: number
  length: number
  raw: number
  type: string
}

class Check {
  private readonly reader: TreeReader
  private readonly maint: RepositoryMaintenance
  private files = 0
  private blobs = 0
  private bytes = 0
  private total = 0
  private problemCount = 0
  private phase: CheckProgress['phase'] = 'walk'
  private readonly treeDamage: { loss: Loss; error: string }[] = []
  private readonly damagedIndexes: { name: string; error: string }[] = []
  private readonly damagedPacks: { pack: string; error: string }[] = []
  private readonly stmt: ReturnType<Check['prepare']>

  constructor(
    private readonly repo: CheckRepository,
    private readonly opts: CheckOptions,
    private readonly db: Database.Database,
  ) {
    this.reader = new TreeReader(repo)
    this.maint = repo.maintenance()
    db.pragma('journal_mode = OFF')
    db.pragma('synchronous = OFF')
    db.exec(`
      CREATE TABLE used (blob BLOB PRIMARY KEY) WITHOUT ROWID;
      CREATE TABLE content_blobs (content BLOB NOT NULL, blob BLOB NOT NULL, PRIMARY KEY (content, blob)) WITHOUT ROWID;
      CREATE TABLE contents (content BLOB PRIMARY KEY) WITHOUT ROWID;
      CREATE TABLE refs (content BLOB NOT NULL, snapshot TEXT NOT NULL, path BLOB NOT NULL);
      CREATE TABLE located (blob BLOB PRIMARY KEY, pack TEXT NOT NULL, offset INTEGER NOT NULL,
        length INTEGER NOT NULL, raw INTEGER NOT NULL, type TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE packs (pack TEXT PRIMARY KEY, size INTEGER NOT NULL, indexed INTEGER NOT NULL DEFAULT 0,
        selected INTEGER NOT NULL DEFAULT 1) WITHOUT ROWID;
      CREATE TABLE damaged (blob BLOB PRIMARY KEY, pack TEXT, error TEXT NOT NULL) WITHOUT ROWID;
    `)
    this.stmt = this.prepare()
  }

  private prepare() {
    const db = this.db
    return {
      used: db.prepare('INSERT OR IGNORE INTO used (blob) VALUES (?)'),
      content: db.prepare('INSERT OR IGNORE INTO contents (content) VALUES (?)'),
      contentBlob: db.prepare('INSERT OR IGNORE INTO content_blobs (content, blob) VALUES (?, ?)'),
      ref: db.prepare('INSERT INTO refs (content, snapshot, path) VALUES (?, ?, ?)'),
      located: db.prepare(
        'INSERT OR REPLACE INTO located (blob, pack, offset, length, raw, type) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      damaged: db.prepare('INSERT OR IGNORE INTO damaged (blob, pack, error) VALUES (?, ?, ?)'),
      pack: db.prepare('INSERT OR REPLACE INTO packs (pack, size) VALUES (?, ?)'),
    }
  }

  async run(): Promise<CheckReport> {
    const whole = this.opts.whole
    // Packs first: a pack that appears during the check (another push) is not judged.
    for await (const info of this.maint.listPacks()) this.stmt.pack.run(info.name, info.size)
    this.selectSubset()
    let snapshots = 0
    for (const t of this.opts.targets) {
      await this.walkTarget(t)
      snapshots++
    }
    this.phase = 'locate'
    if (whole) await this.readIndexes()
    await this.locateUsed()
    this.checkPackBounds()
    let packsRead = 0
    if (!this.opts.fast) {
      this.phase = 'read'
      packsRead = await this.readData(whole)
    }
    if (whole && !this.opts.fast) {
      this.phase = 'coherency'
      await this.checkHeaders()
    }
    const unindexed = whole
      ? (this.db.prepare('SELECT pack, size FROM packs WHERE indexed = 0 ORDER BY pack').all() as {
          pack: string
          size: number
        }[])
      : []
    const unused = whole
      ? (this.db
          .prepare(
            'SELECT count(*) AS n, coalesce(sum(length), 0) AS bytes FROM located WHERE blob NOT IN (SELECT blob FROM used)',
          )
          .get() as { n: number; bytes: number })
      : { n: 0, bytes: 0 }
    const damagedBlobs = this.damagedBlobs()
    const unreadable = this.opts.unreadableSnapshots ?? []
    const problems =
      damagedBlobs.length +
      this.treeDamage.length +
      this.damagedIndexes.length +
      this.damagedPacks.length +
      unreadable.length
    const skipped = (
      this.db.prepare('SELECT count(*) AS n FROM packs WHERE selected = 0').get() as { n: number }
    ).n
    return {
      snapshots,
      files: this.files,
      blobs: this.blobs,
      bytesRead: this.bytes,
      packsRead,
      packsSkipped: this.opts.fast ? 0 : skipped,
      treeDamage: this.treeDamage,
      damagedBlobs,
      damagedIndexes: this.damagedIndexes,
      damagedPacks: this.damagedPacks,
      unreadableSnapshots: unreadable,
      unindexedPacks: unindexed,
      unusedBlobs: unused.n,
      unusedBytes: unused.bytes,
      problems,
    }
  }

  /** Marks the packs outside the subset: their blobs are located but not read. */
  private selectSubset(): void {
    const s = this.opts.subset
    if (s === undefined) return
    const packs = this.db.prepare('SELECT pack FROM packs').pluck().all() as string[]
    const off = this.db.prepare('UPDATE packs SET selected = 0 WHERE pack = ?')
    this.db.transaction(() => {
      for (const p of packs) {
        // A pack name is a hash: its first 32 bits spread the packs evenly and stay put as
        // the repository grows, so parts 1..m of m together cover every pack once.
        const n = Number.parseInt(p.slice(0, 8), 16)
        const keep = 'part' in s ? n % s.of === s.part - 1 : Math.random() * 100 < s.percent
        if (!keep) off.run(p)
      }
    })()
  }

  private report(): void {
    this.opts.progress?.({
      phase: this.phase,
      files: this.files,
      blobs: this.blobs,
      bytes: this.bytes,
      total: this.total,
      problems: this.problemCount + this.treeDamage.length,
    })
  }

  // ---- 1. walk ----

  private async walkTarget(t: CheckTarget): Promise<void> {
    const snapshot = t.header.uuid
    let at: Entry
    let path: Buffer
    try {
      const found = await locate(this.reader, t.header, t.path)
      at = found.entry
      path = Buffer.from(found.path)
    } catch (err) {
      if (!isPlakarError(err) || isPlakarError(err, 'SNAPSHOT_PATH_NOT_FOUND')) throw err
      this.treeDamage.push({ loss: { snapshot, path: t.path }, error: message(err) })
      return
    }
    const pending: [Buffer, Entry][] = []
    const flush = () => {
      if (pending.length === 0) return
      this.db.transaction(() => {
        for (const [p, e] of pending.splice(0)) this.recordEntry(snapshot, p, e)
      })()
    }
    const visit = async (dir: Entry, dirPath: Buffer): Promise<void> => {
      try {
        const ids: Uint8Array[] = []
        for await (const id of this.reader.nodes(dir.tree!)) ids.push(id)
        this.db.transaction(() => {
          for (const id of ids) this.stmt.used.run(id)
        })()
        for await (const e of this.reader.list(dir.tree!)) {
          const p = joinPath(dirPath, e.name)
          if (e.kind === 'dir') {
            flush()
            await visit(e, p)
          } else if (e.kind === 'file') {
            await this.fileChunks(snapshot, p, e, pending)
            if (pending.length >= 512) flush()
          }
        }
        flush()
      } catch (err) {
        if (!isPlakarError(err)) throw err
        flush()
        this.treeDamage.push({ loss: { snapshot, path: dirPath.toString() }, error: message(err) })
        this.report()
      }
    }
    if (at.kind === 'dir') await visit(at, path)
    else if (at.kind === 'file') {
      await this.fileChunks(snapshot, path, at, pending)
      flush()
    }
  }

  /** A file's chunk ids (reading its chunk lists, verified), queued as [path, entry with ids]. */
  private async fileChunks(snapshot: string, p: Buffer, e: Entry, pending: [Buffer, Entry][]): Promise<void> {
    this.files++
    const content = e.content
    if (content === undefined) return
    if ('chunks' in content) {
      pending.push([p, e])
      return
    }
    try {
      const chunks: Buffer[] = []
      for await (const id of this.reader.chunks(content)) chunks.push(id)
      pending.push([p, { ...e, content: { chunks } }])
      for (const id of content.lists) this.stmt.used.run(id)
    } catch (err) {
      if (!isPlakarError(err)) throw err
      this.treeDamage.push({ loss: { snapshot, path: p.toString() }, error: message(err) })
    }
    if (this.files % 1000 === 0) this.report()
  }

  private recordEntry(snapshot: string, p: Buffer, e: Entry): void {
    if (e.content === undefined || !('chunks' in e.content) || e.content.chunks.length === 0) return
    const chunks = e.content.chunks
    const h = createHash('sha256')
    for (const id of chunks) h.update(id)
    const key = h.digest()
    if (this.stmt.content.run(key).changes === 1) {
      for (const id of chunks) {
        this.stmt.contentBlob.run(key, id)
        this.stmt.used.run(id)
      }
    }
    this.stmt.ref.run(key, snapshot, p)
  }

  // ---- 2. locate ----

  /** Every index object, decoded: for the whole repository, what it names is what is read. */
  private async readIndexes(): Promise<void> {
    const marked = this.db.prepare('UPDATE packs SET indexed = 1 WHERE pack = ?')
    for await (const info of this.maint.listIndexes()) {
      let packs: IndexedPack[]
      try {
        packs = await this.maint.readIndex(info.name)
      } catch (err) {
        if (!isPlakarError(err)) throw err
        this.damagedIndexes.push({ name: info.name, error: message(err) })
        this.report()
        continue
      }
      this.db.transaction(() => {
        for (const p of packs) {
          marked.run(p.pack)
          for (const e of p.entries)
            this.stmt.located.run(e.id, p.pack, e.offset, e.length, e.rawLength, e.type)
        }
      })()
    }
  }

  /** The blobs used, looked up in the index (the local cache, synced when opened). */
  private async locateUsed(): Promise<void> {
    const page = this.db.prepare(
      'SELECT blob FROM used WHERE blob > ? AND blob NOT IN (SELECT blob FROM located) ORDER BY blob LIMIT ?',
    )
    let after: Buffer = Buffer.alloc(0)
    for (;;) {
      const ids = page.pluck().all(after, LOCATE_BATCH) as Buffer[]
      if (ids.length === 0) break
      after = ids[ids.length - 1]!
      const locs = await this.repo.locateBlobs(ids)
      this.db.transaction(() => {
        locs.forEach((loc, i) => {
          const id = ids[i]!
          if (loc instanceof Error) {
            this.damage(id, null, 'not in the index')
            return
          }
          this.stmt.located.run(id, loc.pack, loc.offset, loc.length, loc.rawLength, loc.type)
        })
      })()
    }
    this.blobs = (this.db.prepare('SELECT count(*) AS n FROM used').get() as { n: number }).n
  }

  /** Every used (or, whole, indexed) blob lies in a pack that exists and is long enough. */
  private checkPackBounds(): void {
    const rows = this.db
      .prepare(
        `SELECT l.blob, l.pack, l.offset, l.length, p.size FROM located l LEFT JOIN packs p ON p.pack = l.pack
         WHERE p.size IS NULL OR l.offset + l.length > p.size`,
      )
      .all() as { blob: Buffer; pack: string; offset: number; length: number; size: number | null }[]
    this.db.transaction(() => {
      for (const r of rows)
        this.damage(
          r.blob,
          r.pack,
          r.size === null
            ? 'its pack is missing'
            : `its pack is too short (${r.size} bytes, the blob ends at ${r.offset + r.length})`,
        )
    })()
  }

  private damage(blob: Uint8Array, pack: string | null, error: string): void {
    if (this.stmt.damaged.run(blob, pack, error).changes === 1) this.problemCount++
  }

  // ---- 3. read ----

  private async readData(whole: boolean): Promise<number> {
    const where = `${whole ? '' : 'l.blob IN (SELECT blob FROM used) AND '}p.selected = 1 AND l.blob NOT IN (SELECT blob FROM damaged)`
    this.total = (
      this.db
        .prepare(
          `SELECT coalesce(sum(l.length), 0) AS n FROM located l JOIN packs p ON p.pack = l.pack WHERE ${where}`,
        )
        .get() as { n: number }
    ).n
    // Pages, not an iterator: the replies write to the same database while the read goes on.
    const page = this.db.prepare(
      `SELECT l.blob, l.pack, l.offset, l.length, l.raw, l.type FROM located l JOIN packs p ON p.pack = l.pack
       WHERE ${where} AND (l.pack, l.offset) > (?, ?) ORDER BY l.pack, l.offset LIMIT 10000`,
    )
    const workers = Math.max(1, this.opts.workers)
    let failure: Error | null = null
    const pool = this.repo.blobPool<null, CheckReply>({
      entry: CHECK_WORKER,
      workers,
      init: null,
      onFailure: (err) => {
        failure ??= err
      },
    })
    const packs = new Set<string>()
    try {
      // Each worker has one batch in flight and one being read: reads and opening overlap.
      const lanes = Array.from({ length: workers }, () => Promise.resolve())
      let lane = 0
      let batch: LocatedBlob[] = []
      let batchBytes = 0
      const send = async () => {
        const blobs = batch
        batch = []
        batchBytes = 0
        const w = lane
        lane = (lane + 1) % workers
        await lanes[w]
        if (failure) throw failure
        const sealed = await this.repo.fetchBlobs(blobs)
        lanes[w] = pool.post(w, sealed, null).then((reply) => {
          const gone = new Set<number>()
          this.db.transaction(() => {
            for (const [k, error] of reply.failures) {
              gone.add(k)
              const b = blobs.find((_, i) => sealed.slot(i) === k)!
              this.damage(b.id, b.loc.pack, error)
            }
          })()
          for (const b of blobs) this.bytes += b.loc.length
          this.report()
        })
        lanes[w].catch(() => {})
      }
      let after: [string, number] = ['', -1]
      for (;;) {
        const rows = page.all(...after) as LocRow[]
        if (rows.length === 0) break
        const last = rows[rows.length - 1]!
        after = [last.pack, last.offset]
        for (const r of rows) {
          packs.add(r.pack)
          batch.push({
            id: r.blob,
            loc: {
              pack: r.pack,
              offset: r.offset,
              length: r.length,
              rawLength: r.raw,
              type: r.type as BlobLocation['type'],
            },
          })
          batchBytes += r.length
          if (batchBytes >= BATCH_BYTES || batch.length >= BATCH_BLOBS) await send()
        }
      }
      if (batch.length > 0) await send()
      await Promise.all(lanes)
      if (failure) throw failure
    } finally {
      await pool.close()
    }
    return packs.size
  }

  // ---- 4. coherency ----

  /** Each indexed pack's own header lists what the index says, where it says. */
  private async checkHeaders(): Promise<void> {
    const packs = this.db.prepare('SELECT pack, size FROM packs WHERE indexed = 1 ORDER BY pack').all() as {
      pack: string
      size: number
    }[]
    const entries = this.db.prepare('SELECT blob, offset, length, type FROM located WHERE pack = ?')
    for (const p of packs) {
      let header: IndexedPack
      try {
        header = await this.maint.readPackHeader(p.pack, p.size)
      } catch (err) {
        if (!isPlakarError(err)) throw err
        this.damagedPacks.push({ pack: p.pack, error: message(err) })
        continue
      }
      const own = new Map(header.entries.map((e) => [hex(e.id), e]))
      for (const row of entries.all(p.pack) as {
        blob: Buffer
        offset: number
        length: number
        type: string
      }[]) {
        const e = own.get(row.blob.toString('hex'))
        if (e === undefined || e.offset !== row.offset || e.length !== row.length || e.type !== row.type) {
          this.damagedPacks.push({
            pack: p.pack,
            error: `its header ${e === undefined ? 'does not list' : 'disagrees with the index on'} blob ${row.blob.toString('hex')}`,
          })
          break
        }
      }
    }
  }

  /** The damaged blobs, each with the snapshot:paths that use it (bounded). */
  private damagedBlobs(): DamagedBlob[] {
    const losses = this.db.prepare(
      `SELECT r.snapshot, r.path FROM content_blobs c JOIN refs r ON r.content = c.content
       WHERE c.blob = ? ORDER BY r.snapshot, r.path LIMIT ?`,
    )
    const count = this.db.prepare(
      'SELECT count(*) AS n FROM content_blobs c JOIN refs r ON r.content = c.content WHERE c.blob = ?',
    )
    const out: DamagedBlob[] = []
    for (const d of this.db.prepare('SELECT blob, pack, error FROM damaged ORDER BY pack, blob').all() as {
      blob: Buffer
      pack: string | null
      error: string
    }[]) {
      const rows = losses.all(d.blob, MAX_LOSSES) as { snapshot: string; path: Buffer }[]
      const n = (count.get(d.blob) as { n: number }).n
      out.push({
        blob: d.blob.toString('hex'),
        pack: d.pack,
        error: d.error,
        losses: rows.map((r) => ({ snapshot: r.snapshot, path: r.path.toString() })),
        moreLosses: n - rows.length,
      })
    }
    return out
  }
}
