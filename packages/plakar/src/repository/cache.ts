import { createHash, randomBytes } from 'node:crypto'
import { promises as fsp, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import type { PackEntry } from '../format/index.js'
import { blobTypeCode, blobTypeFromCode } from '../format/index.js'
import type { BlobLocation, BlobType } from './types.js'

/**
 * The local cache: one SQLite file per repository (WAL mode), at
 * ${XDG_CACHE_HOME:-~/.cache}/plakar/<repository id>.db, or in a temporary directory removed
 * at close when the user asked for no cache. The repository owns it and its `repo_` tables
 * below; no other layer sees the handle.
 *
 * `repo_blobs` is the union of the index objects named in `repo_indexes`, and nothing else:
 * rows are only ever inserted from an index object that exists in the repository, so the
 * cache can lag (a missing row: sync again) but never claim a blob no index names. A
 * listed index that disappeared from the repository (a later prune) resets the tables.
 * The file is the repository's alone: tables of other layers (the snapshot layer's file
 * cache kept its table here before it had a file of its own) are dropped on open.
 * Every blob read is verified anyway, so even a damaged cache cannot yield wrong data.
 *
 * The index epoch (`repo_meta` key `epoch`) is a random value drawn anew whenever rows leave
 * `repo_blobs` (a reset, a schema change, a new file): while it stays the same, a blob once
 * found in the index is still there. Random, not a counter: a cache deleted and made again
 * must not come back to an epoch it had. The file cache relies on it (Repository.indexEpoch,
 * snapshot/file-cache.ts).
 *
 * Doom lists (locks.ts, schema 4): a pack a prune means to delete is recorded in
 * `repo_doomed_packs`, and its rows move from `repo_blobs` to `repo_doomed_blobs`. hasBlob
 * and the writer's known blobs look at `repo_blobs` only, so nothing is deduplicated against
 * a doomed blob; lookup still finds it, so a snapshot that uses it (one a prune will keep it
 * for) still reads. Applying a doom list draws a new epoch. A reset (an index object gone)
 * keeps the doom lists applied, so that rows re-read from the index never return to
 * `repo_blobs` for a doomed pack, even for a moment. `repo_dooms` names the lists
 * applied; when one of them is gone the cache is rebuilt.
 */
const SCHEMA_VERSION = 4

/** `${XDG_CACHE_HOME:-~/.cache}/plakar` in the environment `env` (the CLI's). */
/**
 * The name of a repository's caches: its id and a digest of its location. A clone keeps the
 * id, and two copies must neither share a cache (one's index is not the other's) nor reset
 * each other's; a location is the store's normalised URL, so every way of writing it agrees.
 */
export function cacheKey(repositoryId: string, location: string): string {
  return `${repositoryId}-${createHash('sha256').update(location).digest('hex').slice(0, 16)}`
}

export function defaultCacheDir(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'plakar')
}

/**
 * A new index epoch (see above). Never numeric-looking ("e-" and hex): a table column with
 * numeric affinity must not turn it into a number.
 */
function bumpEpoch(db: Database.Database): void {
  db.prepare("INSERT OR REPLACE INTO repo_meta (key, value) VALUES ('epoch', ?)").run(
    `e-${randomBytes(16).toString('hex')}`,
  )
}

/** The blobs a local cache held when opened, asked from another thread (a pipeline worker). */
export interface KnownBlobs {
  has(id: Uint8Array): boolean
  close(): void
}

/**
 * The local cache file at `path`, opened read-only to answer has(id); null when its index is
 * empty. A repository that held nothing when the backup started (a first backup) has nothing
 * to skip: a lookup per chunk would cost ~15 µs each for no hit. The writer still
 * deduplicates what is sealed, so a blob another writer stored meanwhile is not stored twice,
 * only sealed once for nothing.
 */
export function openKnownBlobs(path: string): KnownBlobs | null {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  db.pragma('busy_timeout = 10000')
  if (db.prepare('SELECT 1 FROM repo_blobs LIMIT 1').get() === undefined) {
    db.close()
    return null
  }
  const has = db.prepare(HAS_BLOB).pluck()
  return { has: (id) => has.get(id) !== undefined, close: () => db.close() }
}

export interface BlobRow {
  readonly type: BlobType
  readonly location: BlobLocation
}

export class LocalCache {
  private readonly db: Database.Database
  readonly path: string
  private readonly tempDir: string | null
  private readonly stmts: ReturnType<typeof prepare>
  private readonly packNames = new Map<number, string>()

  private constructor(path: string, tempDir: string | null) {
    this.path = path
    this.tempDir = tempDir
    this.db = new Database(path)
    this.db.pragma('journal_mode = WAL')
    this.db.pragma('synchronous = NORMAL')
    this.db.pragma('busy_timeout = 10000')
    // Two processes may open a new cache at once: one sets the schema up, the other waits.
    this.db
      .transaction(() => {
        // The repo_ tables are disposable: another schema's are dropped, not migrated. (The
        // version lives in a repo_ table: the file's user_version is not ours alone.)
        this.db.exec(
          'CREATE TABLE IF NOT EXISTS repo_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID',
        )
        const schema = this.db.prepare("SELECT value FROM repo_meta WHERE key = 'schema'").pluck().get()
        if (schema !== String(SCHEMA_VERSION)) {
          this.db.exec(
            'DROP TABLE IF EXISTS repo_blobs; DROP TABLE IF EXISTS repo_indexes; DROP TABLE IF EXISTS repo_packs; DROP TABLE IF EXISTS repo_dooms; DROP TABLE IF EXISTS repo_doomed_packs; DROP TABLE IF EXISTS repo_doomed_blobs;',
          )
          bumpEpoch(this.db)
          this.db
            .prepare("INSERT OR REPLACE INTO repo_meta (key, value) VALUES ('schema', ?)")
            .run(String(SCHEMA_VERSION))
        }
        this.db.exec(`
          CREATE TABLE IF NOT EXISTS repo_packs (
            pack_id INTEGER PRIMARY KEY, pack BLOB NOT NULL UNIQUE, data_end INTEGER NOT NULL
          );
          CREATE TABLE IF NOT EXISTS repo_blobs (
            id BLOB PRIMARY KEY, type INTEGER NOT NULL, pack_id INTEGER NOT NULL,
            offset INTEGER NOT NULL, length INTEGER NOT NULL, raw_length INTEGER NOT NULL
          ) WITHOUT ROWID;
          CREATE TABLE IF NOT EXISTS repo_indexes (name TEXT PRIMARY KEY) WITHOUT ROWID;
          CREATE TABLE IF NOT EXISTS repo_dooms (name TEXT PRIMARY KEY) WITHOUT ROWID;
          CREATE TABLE IF NOT EXISTS repo_doomed_packs (pack BLOB PRIMARY KEY) WITHOUT ROWID;
          CREATE TABLE IF NOT EXISTS repo_doomed_blobs (
            id BLOB PRIMARY KEY, type INTEGER NOT NULL, pack_id INTEGER NOT NULL,
            offset INTEGER NOT NULL, length INTEGER NOT NULL, raw_length INTEGER NOT NULL
          ) WITHOUT ROWID;
        `)
        const foreign = this.db
          .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'repo\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
          )
          .pluck()
          .all() as string[]
        for (const t of foreign) this.db.exec(`DROP TABLE "${t.replaceAll('"', '""')}"`)
      })
      .immediate()
    this.stmts = prepare(this.db)
  }

  /**
   * Opens (creating) the cache named `key` (cacheKey: the repository's id and location);
   * cacheDir null = a temporary one.
   */
  static open(key: string, cacheDir: string | null): LocalCache {
    if (cacheDir === null) {
      const dir = mkdtempSync(join(tmpdir(), 'plakar-cache-'))
      return new LocalCache(join(dir, `${key}.db`), dir)
    }
    mkdirSync(cacheDir, { recursive: true, mode: 0o700 })
    return new LocalCache(join(cacheDir, `${key}.db`), null)
  }

  /** The index epoch (see above). */
  epoch(): string {
    return String(this.stmts.epoch.get())
  }

  hasBlob(id: Uint8Array): boolean {
    return this.stmts.has.get(id) !== undefined
  }

  /** True when every id is indexed; one read transaction for the set (~4x cheaper per id). */
  hasAll(ids: Iterable<Uint8Array>): boolean {
    this.hasAllTxn ??= this.db.transaction((list: Iterable<Uint8Array>) => {
      for (const id of list) if (this.stmts.has.get(id) === undefined) return false
      return true
    })
    return this.hasAllTxn(ids)
  }

  private hasAllTxn: ((ids: Iterable<Uint8Array>) => boolean) | undefined

  lookup(id: Uint8Array): BlobRow | undefined {
    const row = (this.stmts.lookup.get(id) ?? this.stmts.lookupDoomed.get(id)) as
      | [number, number, number, number, number]
      | undefined
    if (!row) return undefined
    const [typeCode, packId, offset, length, rawLength] = row
    const type = blobTypeFromCode(typeCode) ?? 'data'
    return { type, location: { pack: this.packName(packId), type, offset, length, rawLength } }
  }

  /**
   * lookup for many ids at once, in one read transaction (one WAL snapshot for the whole set
   * instead of one per query: a restore asks for tens of thousands of blobs).
   */
  lookupMany(ids: readonly Uint8Array[]): (BlobRow | undefined)[] {
    this.lookupManyTxn ??= this.db.transaction((list: readonly Uint8Array[]) =>
      list.map((id) => this.lookup(id)),
    )
    return this.lookupManyTxn(ids)
  }

  private lookupManyTxn: ((ids: readonly Uint8Array[]) => (BlobRow | undefined)[]) | undefined

  /**
   * Reads the cache file (and its WAL) once, in order, in the background. For a caller about
   * to look up much of the index (a restore) when the file is not in the page cache: SQLite
   * reads a page at a time where the lookups lead, each read waiting for the disk on the
   * calling thread; read in order, the file comes in large pieces. Only a hint: failures are
   * ignored.
   */
  warm(): void {
    if (this.warming) return
    this.warming = true
    const buf = Buffer.allocUnsafe(1 << 20)
    const read = async (path: string) => {
      const fh = await fsp.open(path, 'r')
      try {
        for (let pos = 0; ; ) {
          const { bytesRead } = await fh.read(buf, 0, buf.length, pos)
          if (bytesRead === 0) return
          pos += bytesRead
        }
      } finally {
        await fh.close()
      }
    }
    read(this.path)
      .then(() => read(`${this.path}-wal`))
      .catch(() => {})
  }

  private warming = false

  private packName(packId: number): string {
    let name = this.packNames.get(packId)
    if (name === undefined) {
      name = (this.stmts.packName.get(packId) as Buffer).toString('hex')
      this.packNames.set(packId, name)
    }
    return name
  }

  /** Where the blobs of a pack end (its header starts there), when an index names the pack. */
  packDataEnd(name: string): number | undefined {
    // 0: a row only a doom list made (no index names the pack).
    return (this.stmts.packEnd.get(Buffer.from(name, 'hex')) as number | undefined) || undefined
  }

  /** True when some index object seen by the cache names this pack. */
  hasPack(name: string): boolean {
    return this.packDataEnd(name) !== undefined
  }

  hasIndex(name: string): boolean {
    return this.stmts.hasIndex.get(name) !== undefined
  }

  indexCount(): number {
    return (this.stmts.indexCount.get() as { n: number }).n
  }

  /** Records one index object and its entries, atomically. */
  addIndex(name: string, packs: readonly { pack: string; entries: readonly PackEntry[] }[]): void {
    this.db.transaction(() => {
      for (const p of packs) {
        let end = 0
        for (const e of p.entries) end = Math.max(end, e.offset + e.length)
        const pack = Buffer.from(p.pack, 'hex')
        this.stmts.insertPack.run(pack, end)
        const packId = this.stmts.packId.get(pack) as number
        const insert =
          this.stmts.isDoomed.get(pack) === undefined ? this.stmts.insert : this.stmts.insertDoomed
        for (const e of p.entries)
          insert.run(e.id, blobTypeCode(e.type), packId, e.offset, e.length, e.rawLength)
      }
      this.stmts.insertIndex.run(name)
    })()
  }

  /** The doom lists applied (locks.ts). */
  doomNames(): string[] {
    return this.stmts.dooms.all() as string[]
  }

  /**
   * Applies a doom list: its packs' blobs leave what hasBlob sees (not what lookup finds),
   * and the epoch changes. Packs no index names yet are recorded all the same.
   */
  applyDoom(name: string, packs: readonly string[]): void {
    this.db.transaction(() => {
      for (const p of packs) this.stmts.doomPack.run(Buffer.from(p, 'hex'))
      // One pass over the table for the whole list, not one per pack.
      this.stmts.moveDoomed.run()
      this.stmts.deleteDoomed.run()
      this.stmts.insertDoom.run(name)
      bumpEpoch(this.db)
    })()
  }

  /** Empties the index tables (an index object is gone); the doom lists applied stay. */
  reset(): void {
    this.db.transaction(() => {
      this.db.exec(
        'DELETE FROM repo_blobs; DELETE FROM repo_indexes; DELETE FROM repo_packs; DELETE FROM repo_doomed_blobs;',
      )
      bumpEpoch(this.db)
    })()
    this.packNames.clear()
  }

  /** reset, and the doom lists forgotten too (one of them is gone: its packs may be spared). */
  resetAll(): void {
    this.db.transaction(() => {
      this.db.exec('DELETE FROM repo_dooms; DELETE FROM repo_doomed_packs;')
      this.reset()
    })()
  }

  close(): void {
    this.db.close()
    if (this.tempDir) rmSync(this.tempDir, { recursive: true, force: true })
  }
}

const HAS_BLOB = 'SELECT 1 FROM repo_blobs WHERE id = ?'

function prepare(db: Database.Database) {
  return {
    has: db.prepare(HAS_BLOB).pluck(),
    epoch: db.prepare("SELECT value FROM repo_meta WHERE key = 'epoch'").pluck(),
    lookup: db.prepare('SELECT type, pack_id, offset, length, raw_length FROM repo_blobs WHERE id = ?').raw(),
    lookupDoomed: db
      .prepare('SELECT type, pack_id, offset, length, raw_length FROM repo_doomed_blobs WHERE id = ?')
      .raw(),
    isDoomed: db.prepare('SELECT 1 FROM repo_doomed_packs WHERE pack = ?').pluck(),
    dooms: db.prepare('SELECT name FROM repo_dooms').pluck(),
    insertDoom: db.prepare('INSERT OR IGNORE INTO repo_dooms (name) VALUES (?)'),
    doomPack: db.prepare('INSERT OR IGNORE INTO repo_doomed_packs (pack) VALUES (?)'),
    moveDoomed: db.prepare(
      `INSERT OR IGNORE INTO repo_doomed_blobs SELECT * FROM repo_blobs WHERE pack_id IN
       (SELECT pack_id FROM repo_packs WHERE pack IN (SELECT pack FROM repo_doomed_packs))`,
    ),
    deleteDoomed: db.prepare(
      `DELETE FROM repo_blobs WHERE pack_id IN
       (SELECT pack_id FROM repo_packs WHERE pack IN (SELECT pack FROM repo_doomed_packs))`,
    ),
    insertDoomed: db.prepare(
      'INSERT OR IGNORE INTO repo_doomed_blobs (id, type, pack_id, offset, length, raw_length) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    packName: db.prepare('SELECT pack FROM repo_packs WHERE pack_id = ?').pluck(),
    packId: db.prepare('SELECT pack_id FROM repo_packs WHERE pack = ?').pluck(),
    packEnd: db.prepare('SELECT data_end FROM repo_packs WHERE pack = ?').pluck(),
    hasIndex: db.prepare('SELECT 1 FROM repo_indexes WHERE name = ?').pluck(),
    indexCount: db.prepare('SELECT count(*) AS n FROM repo_indexes'),
    insert: db.prepare(
      'INSERT OR IGNORE INTO repo_blobs (id, type, pack_id, offset, length, raw_length) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    insertPack: db.prepare(
      'INSERT INTO repo_packs (pack, data_end) VALUES (?, ?) ON CONFLICT (pack) DO UPDATE SET data_end = max(data_end, excluded.data_end)',
    ),
    insertIndex: db.prepare('INSERT OR IGNORE INTO repo_indexes (name) VALUES (?)'),
  }
}
