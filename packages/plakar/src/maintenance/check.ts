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
import { CHECK_WORKER, type CheckPayload, type CheckReply } from './check-protocol.js'

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

/** A file content whose blobs are sound but which, read whole, is not what was backed up. */
export interface DamagedContent {
  readonly error: string
  readonly losses: readonly Loss[]
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
  readonly damagedContents: readonly DamagedContent[]
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
/** Batches per worker at once: one being opened there while the next is read. */
const IN_FLIGHT = 2
/** Rows written per transaction during the walk. */
const FLUSH_ROWS = 4096
/** A row the walk queues for the database (see Check.flush). */
type WalkOp =
  | readonly ['used', Uint8Array]
  | readonly ['dir', number, Buffer | null]
  | readonly ['files', number, number]
  | readonly ['edge', number, number, Buffer]
  | readonly ['root', number, string, Buffer]
  | readonly ['damage', number, Buffer, string]
  | readonly ['file', number, Buffer, readonly Buffer[], Buffer | null]

const EMPTY = Buffer.alloc(0)

function sha256(ids: readonly Uint8Array[]): Buffer {
  const h = createHash('sha256')
  for (const id of ids) h.update(id)
  return h.digest()
}

/** Rows to read, sorted once (Check.plan). */
interface Plan {
  /** The sum of the rows' lengths. */
  readonly bytes: number
  pages(): AsyncGenerator<unknown[]>
}

/** Rows of a read plan per page. */
const PLAN_PAGE = 8192
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
  /** Targets whose path did not resolve for damage on the way (no directory row to hang on). */
  private readonly rootDamage: { loss: Loss; error: string }[] = []
  /** Directories and chunk lists that did not read (rows of place_damage). */
  private placeDamage = 0
  /** Rows the walk queued for the next transaction (flush). */
  private ops: WalkOp[] = []
  /** Directories walked since the last flush: not in the table yet. */
  private readonly pendingDirs = new Map<string, { id: number; files: number }>()
  private nextDir = 1
  private plans = 0
  /** Prepared once contents exists (finishWalk). */
  private contentError: Database.Statement | undefined
  /** Made only when there is damage to name (see placesOf). */
  private lossIndexes = false
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
    // A scratch database: no durability wanted. OFF is refused here (better-sqlite3 opens in
    // defensive mode), and the default journal costs a file created and deleted per commit;
    // in memory, it holds only the pages a transaction changes that existed before it (the
    // walk appends; readIndexes' rollback of a damaged object needs one).
    db.pragma('journal_mode = MEMORY')
    db.pragma('synchronous = OFF')
    db.exec(`
      -- Written during the walk, in arrival order and without indexes: random keys inserted
      -- into B-trees larger than the page cache cost a read and a write each (a million files
      -- took a minute, half of it in the kernel). finishWalk() builds the rest sorted.
      CREATE TABLE files (dir INTEGER NOT NULL, name BLOB NOT NULL, key BLOB NOT NULL, first BLOB NOT NULL,
        digest BLOB, chunks INTEGER NOT NULL);
      CREATE TABLE file_chunks (file INTEGER NOT NULL, pos INTEGER NOT NULL, blob BLOB NOT NULL);
      CREATE TABLE node_blobs (blob BLOB NOT NULL);
      CREATE TABLE dirs (id INTEGER PRIMARY KEY, tree BLOB UNIQUE, files INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE edges (child INTEGER NOT NULL, parent INTEGER NOT NULL, name BLOB NOT NULL);
      CREATE INDEX edges_child ON edges (child);
      CREATE TABLE roots (dir INTEGER NOT NULL, snapshot TEXT NOT NULL, path BLOB NOT NULL);
      CREATE INDEX roots_dir ON roots (dir);
      CREATE TABLE place_damage (dir INTEGER NOT NULL, name BLOB NOT NULL, error TEXT NOT NULL);
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
      node: db.prepare('INSERT INTO node_blobs (blob) VALUES (?)'),
      file: db.prepare('INSERT INTO files (dir, name, key, first, digest, chunks) VALUES (?, ?, ?, ?, ?, ?)'),
      fileChunk: db.prepare('INSERT INTO file_chunks (file, pos, blob) VALUES (?, ?, ?)'),
      dir: db.prepare('INSERT INTO dirs (id, tree) VALUES (?, ?)'),
      dirOf: db.prepare('SELECT id, files FROM dirs WHERE tree = ?'),
      dirFiles: db.prepare('UPDATE dirs SET files = ? WHERE id = ?'),
      edge: db.prepare('INSERT INTO edges (child, parent, name) VALUES (?, ?, ?)'),
      root: db.prepare('INSERT INTO roots (dir, snapshot, path) VALUES (?, ?, ?)'),
      placeDamage: db.prepare('INSERT INTO place_damage (dir, name, error) VALUES (?, ?, ?)'),
      rootsOf: db.prepare('SELECT snapshot, path FROM roots WHERE dir = ? ORDER BY snapshot, path'),
      parentsOf: db.prepare('SELECT parent, name FROM edges WHERE child = ?'),
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
    this.finishWalk()
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
    const damagedContents = this.damagedContents()
    const treeDamage = this.treeDamageReport()
    const unreadable = this.opts.unreadableSnapshots ?? []
    const problems =
      damagedBlobs.length +
      damagedContents.length +
      treeDamage.length +
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
      treeDamage,
      damagedBlobs,
      damagedContents,
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
      problems: this.problemCount + this.placeDamage + this.rootDamage.length,
    })
  }

  // ---- 1. walk ----

  /**
   * Walks one target. A directory is walked once however many snapshots (or targets) hold it:
   * its blob id names its whole subtree (every entry and, through them, every subdirectory's
   * id), so a second meeting only records the edge that leads to it. Snapshots of one tree
   * share nearly all their directories, which is what makes checking ten of them cost little
   * more than one. Who loses what is found afterwards by going up the edges (losses()).
   */
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
      this.rootDamage.push({ loss: { snapshot, path: t.path }, error: message(err) })
      return
    }
    if (at.kind === 'dir') {
      const root = await this.visitDir(at.tree!)
      this.ops.push(['root', root, snapshot, path])
    } else {
      // A file target: a directory of its own (no blob), whose one entry has an empty name.
      const place = this.nextDir++
      this.ops.push(['dir', place, null], ['root', place, snapshot, path])
      if (at.kind === 'file') await this.fileChunks(place, EMPTY, at)
    }
    this.flush(true)
  }

  /** Walks a directory unless it was walked already; returns its row id either way. */
  private async visitDir(tree: Buffer): Promise<number> {
    const key = tree.toString('hex')
    const known =
      this.pendingDirs.get(key) ?? (this.stmt.dirOf.get(tree) as { id: number; files: number } | undefined)
    if (known !== undefined) {
      this.files += known.files
      return known.id
    }
    const id = this.nextDir++
    const memo = { id, files: 0 }
    this.pendingDirs.set(key, memo)
    this.ops.push(['dir', id, tree])
    const before = this.files
    try {
      // Counted as used once they all read: a directory blob that fails is reported once,
      // as the directory lost, not again as a blob no file uses.
      const own: Uint8Array[] = []
      for await (const n of this.reader.nodes(tree)) own.push(n)
      for (const n of own) this.ops.push(['used', n])
      for await (const e of this.reader.list(tree, { readAhead: true })) {
        if (e.kind === 'dir') this.ops.push(['edge', await this.visitDir(e.tree!), id, e.name])
        else if (e.kind === 'file') await this.fileChunks(id, e.name, e)
        this.flush()
      }
    } catch (err) {
      if (!isPlakarError(err)) throw err
      this.ops.push(['damage', id, EMPTY, message(err)])
      this.placeDamage++
      this.report()
    }
    memo.files = this.files - before
    this.ops.push(['files', id, memo.files])
    return id
  }

  /** A file's chunk ids (reading its chunk lists, verified), recorded under (dir, name). */
  private async fileChunks(dir: number, name: Buffer, e: Entry): Promise<void> {
    this.files++
    if (this.files % 1000 === 0) this.report()
    const content = e.content
    if (content === undefined) return
    if ('chunks' in content) {
      this.ops.push(['file', dir, name, content.chunks, e.digest ?? null])
      return
    }
    try {
      const chunks: Buffer[] = []
      for await (const id of this.reader.chunks(content)) chunks.push(id)
      for (const id of content.lists) this.ops.push(['used', id])
      this.ops.push(['file', dir, name, chunks, e.digest ?? null])
    } catch (err) {
      if (!isPlakarError(err)) throw err
      this.ops.push(['damage', dir, name, message(err)])
      this.placeDamage++
    }
  }

  /**
   * Writes the queued rows in one transaction once there are enough of them (or `force`):
   * a commit per directory would cost more than the walk (each one writes its pages out).
   */
  private flush(force = false): void {
    if (this.ops.length === 0 || (!force && this.ops.length < FLUSH_ROWS)) return
    const ops = this.ops
    this.ops = []
    const s = this.stmt
    this.db.transaction(() => {
      for (const op of ops) {
        switch (op[0]) {
          case 'used':
            s.node.run(op[1])
            break
          case 'dir':
            s.dir.run(op[1], op[2])
            break
          case 'files':
            s.dirFiles.run(op[2], op[1])
            break
          case 'edge':
            s.edge.run(op[1], op[2], op[3])
            break
          case 'root':
            s.root.run(op[1], op[2], op[3])
            break
          case 'damage':
            s.placeDamage.run(op[1], op[2], op[3])
            break
          case 'file':
            this.recordFile(op[1], op[2], op[3], op[4])
            break
        }
      }
    })()
    // Every walked directory is in the table now, with its file count (a directory still
    // being walked is an ancestor: no blob can name its own ancestor, ids being hashes).
    this.pendingDirs.clear()
  }

  private recordFile(dir: number, name: Buffer, chunks: readonly Buffer[], digest: Buffer | null): void {
    if (chunks.length === 0) return
    // One chunk: its id is the content's key (a chunk-list hash equal to a chunk id would be
    // a SHA-256 preimage).
    const key = chunks.length === 1 ? chunks[0]! : sha256(chunks)
    const row = this.stmt.file.run(dir, name, key, chunks[0], digest, chunks.length)
    if (chunks.length > 1)
      for (const [pos, id] of chunks.entries()) this.stmt.fileChunk.run(row.lastInsertRowid, pos, id)
  }

  /**
   * After the walk, what the rest asks, built in sorted passes: one row per distinct content
   * (files with the same chunks share it; they must share a digest too), its blobs in file
   * order, and the set of used blobs.
   */
  private finishWalk(): void {
    this.db.exec(`
      CREATE TABLE contents (id INTEGER PRIMARY KEY, key BLOB NOT NULL, file INTEGER NOT NULL,
        first BLOB NOT NULL, digest BLOB, error TEXT);
      INSERT INTO contents (key, file, first, digest)
        SELECT key, min(rowid), first, max(digest) FROM files GROUP BY key ORDER BY key;
      CREATE TABLE content_blobs (content INTEGER NOT NULL, pos INTEGER NOT NULL, blob BLOB NOT NULL,
        PRIMARY KEY (content, pos)) WITHOUT ROWID;
      INSERT INTO content_blobs SELECT c.id, 0, c.key FROM contents c JOIN files f ON f.rowid = c.file
        WHERE f.chunks = 1 ORDER BY c.id;
      CREATE INDEX file_chunks_file ON file_chunks (file);
      INSERT INTO content_blobs SELECT c.id, k.pos, k.blob FROM contents c JOIN file_chunks k ON k.file = c.file
        ORDER BY c.id, k.pos;
      CREATE TABLE used (blob BLOB PRIMARY KEY) WITHOUT ROWID;
      INSERT OR IGNORE INTO used SELECT blob FROM
        (SELECT blob FROM content_blobs UNION ALL SELECT blob FROM node_blobs) ORDER BY blob;
    `)
    // The same chunks cannot hash to two digests: one of the files was recorded wrong.
    const split = this.db
      .prepare(
        `SELECT c.id FROM contents c JOIN (SELECT key FROM files WHERE digest IS NOT NULL GROUP BY key
         HAVING count(DISTINCT digest) > 1) d ON d.key = c.key`,
      )
      .pluck()
      .all() as number[]
    for (const id of split) this.contentDamage(id, 'files with the same chunks carry different digests')
  }

  private contentDamage(content: number, error: string): void {
    this.contentError ??= this.db.prepare('UPDATE contents SET error = ? WHERE id = ? AND error IS NULL')
    if (this.contentError.run(error, content).changes === 1) this.problemCount++
  }

  /**
   * The snapshot:paths of places (dir row, name in it; an empty name is the directory
   * itself), found by going up the edges to the roots: at most `max` of them, in order, and
   * how many there are in all.
   */
  private losses(
    places: readonly (readonly [number, Buffer])[],
    max = MAX_LOSSES,
  ): { losses: Loss[]; more: number } {
    const counts = new Map<number, number>()
    const count = (dir: number): number => {
      let n = counts.get(dir)
      if (n !== undefined) return n
      counts.set(dir, 0) // no cycles (ids are hashes), but a hostile database must not loop
      n = (this.stmt.rootsOf.all(dir) as unknown[]).length
      for (const e of this.stmt.parentsOf.all(dir) as { parent: number }[]) n += count(e.parent)
      counts.set(dir, n)
      return n
    }
    const found = new Map<string, Loss>()
    const up = (dir: number, suffix: Buffer[]): void => {
      for (const r of this.stmt.rootsOf.all(dir) as { snapshot: string; path: Buffer }[]) {
        if (found.size >= max) return
        let p = r.path
        for (let i = suffix.length - 1; i >= 0; i--) p = joinPath(p, suffix[i]!)
        const loss = { snapshot: r.snapshot, path: p.toString() }
        found.set(`${loss.snapshot}\0${loss.path}`, loss)
      }
      for (const e of this.stmt.parentsOf.all(dir) as { parent: number; name: Buffer }[]) {
        if (found.size >= max || suffix.length > 4096) return
        up(e.parent, [...suffix, e.name])
      }
    }
    let total = 0
    for (const [dir, name] of places) {
      total += count(dir)
      if (found.size < max) up(dir, name.length === 0 ? [] : [name])
    }
    const losses = [...found.values()].sort((a, b) =>
      a.snapshot === b.snapshot
        ? Buffer.compare(Buffer.from(a.path), Buffer.from(b.path))
        : a.snapshot < b.snapshot
          ? -1
          : 1,
    )
    return { losses, more: Math.max(0, total - losses.length) }
  }

  /** Directories and chunk lists that did not read, one entry per snapshot:path lost. */
  private treeDamageReport(): { loss: Loss; error: string }[] {
    const out = [...this.rootDamage]
    for (const d of this.db.prepare('SELECT dir, name, error FROM place_damage ORDER BY rowid').all() as {
      dir: number
      name: Buffer
      error: string
    }[])
      for (const loss of this.losses([[d.dir, d.name]]).losses) out.push({ loss, error: d.error })
    return out
  }

  // ---- 2. locate ----

  /** Every index object, decoded: for the whole repository, what it names is what is read. */
  private async readIndexes(): Promise<void> {
    const marked = this.db.prepare('UPDATE packs SET indexed = 1 WHERE pack = ?')
    // In arrival order first, then into located sorted (see the walk's tables for why).
    this.db.exec(`CREATE TABLE indexed (blob BLOB NOT NULL, pack TEXT NOT NULL, offset INTEGER NOT NULL,
      length INTEGER NOT NULL, raw INTEGER NOT NULL, type TEXT NOT NULL)`)
    const add = this.db.prepare('INSERT INTO indexed VALUES (?, ?, ?, ?, ?, ?)')
    for await (const info of this.maint.listIndexes()) {
      // One transaction per object, undone when it turns out damaged part way.
      this.db.exec('BEGIN')
      try {
        await this.maint.forEachIndexPack(info.name, (p) => {
          marked.run(p.pack)
          for (const e of p.entries) add.run(e.id, p.pack, e.offset, e.length, e.rawLength, e.type)
        })
        this.db.exec('COMMIT')
      } catch (err) {
        this.db.exec('ROLLBACK')
        if (!isPlakarError(err)) throw err
        this.damagedIndexes.push({ name: info.name, error: message(err) })
        this.report()
      }
    }
    // A blob two index objects name keeps the later one, as one by one it would.
    this.db.exec(`INSERT OR REPLACE INTO located SELECT * FROM indexed ORDER BY blob, rowid;
      DROP TABLE indexed`)
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

  /**
   * The read: with a subset, the selected packs' blobs in pack order (file digests need
   * whole files, so they are not checked). Otherwise every file content in the order of its
   * first blob (a backup writes a file's chunks one after the other, so packs are read front
   * to back), each distinct content once, its blobs opened and hashed in file order on one
   * worker and the digest compared with the one recorded at backup; then, for the whole
   * repository, the indexed blobs no snapshot uses, in pack order.
   */
  private async readData(whole: boolean): Promise<number> {
    const fresh = 'l.blob NOT IN (SELECT blob FROM damaged)'
    const reader = new BatchReader(this.repo, this.opts.workers, (blobs, reply, payload) =>
      this.onReply(blobs, reply, payload),
    )
    try {
      if (this.opts.subset !== undefined) {
        const plan = this.packOrder(
          `${whole ? '' : 'l.blob IN (SELECT blob FROM used) AND '}p.selected = 1 AND ${fresh}`,
        )
        this.total = plan.bytes
        await this.readInPackOrder(reader, plan)
      } else {
        const contents = this.contentOrder()
        const leftover = whole
          ? this.packOrder(`l.blob NOT IN (SELECT blob FROM used) AND ${fresh}`)
          : undefined
        this.total = contents.bytes + (leftover?.bytes ?? 0)
        await this.readContents(reader, contents)
        if (leftover) await this.readInPackOrder(reader, leftover)
      }
      await reader.finish()
    } finally {
      await reader.close()
    }
    return reader.packs.size
  }

  /** The blobs `where` selects, in pack and offset order. */
  private packOrder(where: string): Plan {
    return this.plan(
      `SELECT l.blob, l.pack, l.offset, l.length, l.raw, l.type FROM located l JOIN packs p ON p.pack = l.pack
       WHERE ${where} ORDER BY l.pack, l.offset`,
    )
  }

  /**
   * Every content to read, in the order of its first blob, its chunks in file order (a
   * content's rows are consecutive). Contents with a blob already known damaged are lost
   * whole: they are not read.
   */
  private contentOrder(): Plan {
    this.db.exec(`CREATE TABLE lost AS SELECT DISTINCT content FROM content_blobs
      WHERE blob IN (SELECT blob FROM damaged) OR blob NOT IN (SELECT blob FROM located)`)
    return this.plan(
      `SELECT c.id, c.digest, l.blob, l.pack, l.offset, l.length, l.raw, l.type
       FROM contents c JOIN located f ON f.blob = c.first JOIN content_blobs b ON b.content = c.id
         JOIN located l ON l.blob = b.blob
       WHERE c.error IS NULL AND c.id NOT IN (SELECT content FROM lost)
       ORDER BY f.pack, f.offset, c.id, b.pos`,
    )
  }

  private async readInPackOrder(reader: BatchReader, plan: Plan): Promise<void> {
    for await (const rows of plan.pages()) for (const r of rows as LocRow[]) await reader.add(located(r))
    await reader.flush()
  }

  private async readContents(reader: BatchReader, plan: Plan): Promise<void> {
    let id = -1
    let digest: Buffer | null = null
    let blobs: LocatedBlob[] = []
    for await (const rows of plan.pages())
      for (const r of rows as (LocRow & { id: number; digest: Buffer | null })[]) {
        if (r.id !== id) {
          if (blobs.length > 0) await reader.addContent(id, digest, blobs)
          id = r.id
          digest = r.digest
          blobs = []
        }
        blobs.push(located(r))
      }
    if (blobs.length > 0) await reader.addContent(id, digest, blobs)
    await reader.flush()
  }

  /**
   * The rows of `select` (which has a `length` column), in its order, a page at a time, and
   * the sum of their lengths (what the reads will count). They are written to a table first,
   * sorted once, rows numbered in that order: an iterator would hold the connection while
   * the replies write to it, and paging the query itself would sort it again for every page.
   */
  private plan(select: string): Plan {
    const table = `plan${++this.plans}`
    this.db.exec(`CREATE TABLE ${table} AS ${select}`)
    const bytes = this.db.prepare(`SELECT coalesce(sum(length), 0) FROM ${table}`).pluck().get() as number
    const db = this.db
    return {
      bytes,
      async *pages() {
        const page = db.prepare(`SELECT rowid AS seq, * FROM ${table} WHERE rowid > ? ORDER BY rowid LIMIT ?`)
        let after = 0
        try {
          for (;;) {
            const rows = page.all(after, PLAN_PAGE) as { seq: number }[]
            if (rows.length === 0) break
            after = rows[rows.length - 1]!.seq
            yield rows
          }
        } finally {
          db.exec(`DROP TABLE ${table}`)
        }
      },
    }
  }

  private onReply(
    blobs: readonly LocatedBlob[],
    reply: CheckReply,
    expected: ReadonlyMap<number, Buffer | null>,
  ): void {
    this.db.transaction(() => {
      for (const [i, error] of reply.failures) {
        const b = blobs[i]!
        this.damage(b.id, b.loc.pack, error)
      }
      for (const [content, digest] of reply.digests) {
        const want = expected.get(content)
        if (want && !Buffer.from(digest).equals(want))
          this.contentDamage(content, 'its chunks, read in order, do not match the digest recorded at backup')
      }
    })()
    for (const b of blobs) this.bytes += b.loc.length
    this.report()
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

  /** The contents whose digest failed, each with the snapshot:paths that hold it (bounded). */
  private damagedContents(): DamagedContent[] {
    return (
      this.db.prepare('SELECT id, error FROM contents WHERE error IS NOT NULL ORDER BY id').all() as {
        id: number
        error: string
      }[]
    ).map((c) => {
      const { losses, more } = this.losses(this.placesOf([c.id]))
      return { error: c.error, losses, moreLosses: more }
    })
  }

  /** The damaged blobs, each with the snapshot:paths that use it (bounded). */
  private damagedBlobs(): DamagedBlob[] {
    const out: DamagedBlob[] = []
    const damaged = this.db.prepare('SELECT count(*) FROM damaged').pluck().get() as number
    if (damaged === 0) return out
    this.indexForLosses()
    const contents = this.db.prepare('SELECT DISTINCT content FROM content_blobs WHERE blob = ?').pluck()
    for (const d of this.db.prepare('SELECT blob, pack, error FROM damaged ORDER BY pack, blob').all() as {
      blob: Buffer
      pack: string | null
      error: string
    }[]) {
      const { losses, more } = this.losses(this.placesOf(contents.all(d.blob) as number[]))
      out.push({ blob: d.blob.toString('hex'), pack: d.pack, error: d.error, losses, moreLosses: more })
    }
    return out
  }

  /** Where contents are: (dir row, name) pairs. */
  private placesOf(contents: readonly number[]): [number, Buffer][] {
    this.indexForLosses()
    const files = this.db.prepare(
      'SELECT f.dir, f.name FROM contents c JOIN files f ON f.key = c.key WHERE c.id = ?',
    )
    return contents.flatMap((c) =>
      (files.all(c) as { dir: number; name: Buffer }[]).map((r) => [r.dir, r.name] as [number, Buffer]),
    )
  }

  /** The indexes that go from a blob to its contents and from a content to its files, once. */
  private indexForLosses(): void {
    if (this.lossIndexes) return
    this.db.exec(`CREATE INDEX content_blobs_blob ON content_blobs (blob);
      CREATE INDEX files_key ON files (key);`)
    this.lossIndexes = true
  }
}

function located(r: LocRow): LocatedBlob {
  return {
    id: r.blob,
    loc: {
      pack: r.pack,
      offset: r.offset,
      length: r.length,
      rawLength: r.raw,
      type: r.type as BlobLocation['type'],
    },
  }
}

type OnReply = (
  blobs: readonly LocatedBlob[],
  reply: CheckReply,
  expected: ReadonlyMap<number, Buffer | null>,
) => void

/**
 * Gathers blobs into batches of about BATCH_BYTES, reads each batch (Repository.fetchBlobs:
 * neighbours in one range) and hands it to a worker of the repository's pool running
 * check-worker.ts, one batch in flight per worker while the next is read. A content that
 * spans batches keeps its worker, so that worker hashes it in order.
 */
class BatchReader {
  readonly packs = new Set<string>()
  private readonly pool: BlobPool<CheckPayload | null, CheckReply>
  /** Per worker, the batches in flight (at most IN_FLIGHT: one opening, one being read). */
  private readonly lanes: Promise<void>[][]
  private next = 0
  private failure: Error | null = null
  private blobs: LocatedBlob[] = []
  private bytes = 0
  private sections: [number, number, boolean][] = []
  private expected = new Map<number, Buffer | null>()
  /** The worker an unfinished content is pinned to. */
  private pinned: number | null = null

  constructor(
    private readonly repo: CheckRepository,
    workers: number,
    private readonly onReply: OnReply,
  ) {
    const n = Math.max(1, workers)
    this.pool = repo.blobPool<CheckPayload | null, CheckReply>({
      entry: CHECK_WORKER,
      workers: n,
      init: null,
      onFailure: (err) => {
        this.failure ??= err
      },
    })
    this.lanes = Array.from({ length: n }, () => [])
  }

  /** A blob read on its own (pack order): no content, no digest. */
  async add(b: LocatedBlob): Promise<void> {
    if (this.sections.length > 0) await this.flush()
    this.blobs.push(b)
    this.bytes += b.loc.length
    if (this.bytes >= BATCH_BYTES || this.blobs.length >= BATCH_BLOBS) await this.flush()
  }

  /** A file content's blobs, in file order, to open and hash against `digest`. */
  async addContent(content: number, digest: Buffer | null, blobs: readonly LocatedBlob[]): Promise<void> {
    if (this.blobs.length > 0 && this.sections.length === 0) await this.flush()
    this.expected.set(content, digest)
    let taken = 0
    for (let i = 0; i < blobs.length; i++) {
      const b = blobs[i]!
      this.blobs.push(b)
      this.bytes += b.loc.length
      taken++
      const last = i === blobs.length - 1
      if (last || this.bytes >= BATCH_BYTES || this.blobs.length >= BATCH_BLOBS) {
        this.sections.push([content, taken, last])
        taken = 0
        if (this.bytes >= BATCH_BYTES || this.blobs.length >= BATCH_BLOBS) await this.flush(!last)
      }
    }
  }

  /** Sends what is gathered; `continuing`: its last content goes on in the next batch. */
  async flush(continuing = false): Promise<void> {
    if (this.blobs.length === 0) return
    const blobs = this.blobs
    const sections = this.sections
    const expected = this.expected
    this.blobs = []
    this.bytes = 0
    this.sections = []
    this.expected = new Map()
    let w: number
    if (this.pinned !== null) w = this.pinned
    else {
      w = this.next
      this.next = (this.next + 1) % this.lanes.length
    }
    this.pinned = continuing ? w : null
    if (continuing) {
      // The unfinished content's expectation travels with its last batch.
      const open = sections[sections.length - 1]![0]
      this.expected.set(open, expected.get(open) ?? null)
    }
    const lane = this.lanes[w]!
    while (lane.length >= IN_FLIGHT) await lane.shift()
    if (this.failure) throw this.failure
    for (const b of blobs) this.packs.add(b.loc.pack)
    const sealed = await this.repo.fetchBlobs(blobs)
    // The worker sees distinct blobs; failures come back by batch index, mapped to inputs here.
    const order = new Uint32Array(blobs.length)
    const inputOf = new Map<number, number>()
    for (let i = 0; i < blobs.length; i++) {
      order[i] = sealed.slot(i)
      if (!inputOf.has(order[i]!)) inputOf.set(order[i]!, i)
    }
    const payload: CheckPayload | null = sections.length > 0 ? { order, sections } : null
    const done = this.pool
      .post(w, sealed, payload, payload ? [order.buffer as ArrayBuffer] : [])
      .then((reply) => {
        const failures = reply.failures.map(([k, e]) => [inputOf.get(k)!, e] as const)
        this.onReply(blobs, { failures, digests: reply.digests }, expected)
      })
    done.catch(() => {})
    lane.push(done)
  }

  async finish(): Promise<void> {
    await this.flush()
    await Promise.all(this.lanes.flat())
    if (this.failure) throw this.failure
  }

  close(): Promise<void> {
    return this.pool.close()
  }
}
