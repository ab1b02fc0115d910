import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'

/**
 * The file-metadata cache: for each file backed up before, by directory and name, the
 * metadata it had (device, inode, size, mtime, ctime), its chunk ids and its extended
 * attributes, so that an unchanged file is neither read nor asked for its attributes
 * again. It is the snapshot layer's own SQLite file (WAL mode), beside the repository's local
 * cache (forRepository), one row per directory: the archiver loads a directory's records when
 * it enters it and stores them back when it is done with it.
 *
 * CONTRACT: the cache is a hint, never the truth. A hit is used only when every metadata
 * field matches and every chunk is in the repository's index; a deleted, stale or foreign
 * cache can cost a re-read, never a wrong backup.
 */
export interface CachedFile {
  /** `dev:ino:size:mtimeNs:ctimeNs` as the archiver saw them (see stamp()). */
  readonly stamp: string
  /** SHA-256 of the whole content (FileResult.digest), 32 bytes. */
  readonly digest: Buffer
  readonly chunks: Buffer[]
  /** The attributes as [name, value] pairs, flattened: n0, v0, n1, v1, ... */
  readonly xattrs: Buffer[]
}

/** What must not have changed for a cached file to be trusted, as one comparable string. */
export function stamp(st: {
  readonly dev: bigint
  readonly ino: bigint
  readonly size: bigint
  readonly mtimeNs: bigint
  readonly ctimeNs: bigint
}): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`
}

/** Directories written per transaction. */
const BATCH = 64
const TABLE = 'snapshot_dirs_v2'
const COLUMNS = 'dir,files,token,epoch'
/** Tables of earlier layouts, dropped on sight (the cache is disposable). */
const OLD_TABLES = ['snapshot_files', 'snapshot_files_v1', 'snapshot_dirs_v1']

/** A directory's records, and whether their chunks are known to be in the index. */
export interface DirRecords {
  readonly files: Map<string, CachedFile>
  /**
   * Every chunk of every record was in the repository's index when the push that wrote the
   * row finished, and no blob has left the index since (its epoch is the same): the chunks
   * need not be looked up again.
   */
  readonly trusted: boolean
}

/**
 * One row per directory, its files' records in one blob (the layout is in
 * docs/plakar-snapshot-format.md): a no-change backup of 50k files in 2k directories reads
 * 2k rows instead of 50k, and a directory whose records did not change is not written again.
 *
 * Trust: a row is written with this push's random token; commit(), called once the push's
 * blobs are all in the index, swaps the token for the repository's index epoch (a random
 * value that changes whenever a blob may have left the index: Repository.indexEpoch). A row
 * still holding a token (its push died, or is still running) or another epoch is checked
 * against the index, chunk by chunk, as any record is when the cache cannot tell.
 */
export class FileCache {
  private readonly db: Database.Database
  private readonly dirStmt: Database.Statement
  private readonly putStmt: Database.Statement
  private readonly token = randomBytes(16)
  private pending: [Buffer, Buffer][] = []
  /** What each directory's row held when dir() read it, until putDir() compares against it. */
  private readonly loaded = new Map<string, { readonly blob: Buffer; readonly trusted: boolean }>()
  /**
   * The first error of the database (busy, full, read-only, damaged), after which the cache
   * does nothing: it is a hint, and a backup does not fail for it (push reports it).
   */
  failure: string | undefined = undefined

  private constructor(
    db: Database.Database,
    /** The repository's index epoch; null: rows are never trusted. */
    private readonly epoch: (() => string) | null,
  ) {
    this.db = db
    const columns = (db.prepare(`PRAGMA table_info(${TABLE})`).all() as { name: string }[]).map((c) => c.name)
    if (columns.length > 0 && columns.join(',') !== COLUMNS) db.exec(`DROP TABLE ${TABLE}`)
    for (const t of OLD_TABLES) db.exec(`DROP TABLE IF EXISTS ${t}`)
    this.db.exec(
      `CREATE TABLE IF NOT EXISTS ${TABLE} (dir BLOB PRIMARY KEY, files BLOB NOT NULL, token BLOB, epoch TEXT) WITHOUT ROWID`,
    )
    this.dirStmt = this.db.prepare(`SELECT files, token, epoch FROM ${TABLE} WHERE dir = ?`).raw(true)
    this.putStmt = this.db.prepare(`INSERT OR REPLACE INTO ${TABLE} VALUES (?, ?, ?, NULL)`)
  }

  /**
   * Open (creating) the cache file `<dir>/<name>.db`. With `epoch` (the repository's index
   * epoch), committed rows are trusted while it holds; without, never.
   */
  static open(dir: string, name: string, epoch: (() => string) | null = null): FileCache {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const db = new Database(join(dir, `${name}.db`))
    db.pragma('journal_mode = WAL')
    db.pragma('busy_timeout = 10000')
    return new FileCache(db, epoch)
  }

  /** The file cache of `repository` in the cache directory `dir`, beside its local cache. */
  static forRepository(
    dir: string,
    repository: { readonly cacheKey: string; indexEpoch(): string },
  ): FileCache {
    return FileCache.open(dir, `${repository.cacheKey}-files`, () => repository.indexEpoch())
  }

  /**
   * The records of one directory's files, by name (latin1 of the name's bytes). A damaged
   * record ends the list where it is damaged: what comes after is read again, never trusted.
   */
  dir(dir: Buffer): DirRecords {
    const row = this.read(dir)
    if (row === undefined) return { files: new Map(), trusted: false }
    this.loaded.set(dir.toString('latin1'), row)
    return { files: decodeRecords(row.blob), trusted: row.trusted }
  }

  /** Mark the rows this push wrote as trusted: call once all its blobs are in the index. */
  commit(): void {
    this.flush()
    const epoch = this.epoch
    if (epoch === null) return
    this.guard(() =>
      this.db.prepare(`UPDATE ${TABLE} SET token = NULL, epoch = ? WHERE token = ?`).run(epoch(), this.token),
    )
  }

  private read(dir: Buffer): { blob: Buffer; trusted: boolean } | undefined {
    const row = this.guard(() => this.dirStmt.get(dir) as [Buffer, Buffer | null, string | null] | undefined)
    if (row === undefined) return undefined
    const [blob, token, epoch] = row
    const trusted =
      token === null && epoch !== null && this.epoch !== null && epoch === this.guard(this.epoch)
    return { blob, trusted }
  }

  /**
   * Replace the records of directory `dir` by `files` (with `merge`, add them to the
   * directory's other records instead: a backup of some files of a directory). Not written
   * when the records are what dir() read.
   */
  putDir(dir: Buffer, files: readonly (readonly [Buffer, CachedFile])[], merge = false): void {
    const key = dir.toString('latin1')
    const before = this.loaded.get(key)
    this.loaded.delete(key)
    if (this.failure !== undefined) return
    let all = files
    if (merge) {
      if (before === undefined) this.flush() // a write of this directory may be pending
      const old = before ?? this.read(dir)
      // The other records join only if trusted: the row is about to be trusted as a whole.
      if (old?.trusted) {
        const byName = new Map<string, readonly [Buffer, CachedFile]>()
        for (const [name, f] of decodeRecords(old.blob)) byName.set(name, [Buffer.from(name, 'latin1'), f])
        for (const r of files) byName.set(r[0].toString('latin1'), r)
        all = [...byName.values()]
      }
    }
    if (before === undefined && all.length === 0) return
    const blob = encodeRecords([...all].sort((x, y) => Buffer.compare(x[0], y[0])))
    // Unchanged and trusted: nothing to write. (Unchanged but untrusted: written with this
    // push's token, so that its commit makes it trusted.)
    if (before?.trusted && before.blob.equals(blob)) return
    this.pending.push([dir, blob])
    if (this.pending.length >= BATCH) this.flush()
  }

  flush(): void {
    if (this.pending.length === 0) return
    const rows = this.pending
    this.pending = []
    this.guard(() =>
      this.db.transaction(() => {
        for (const [dir, blob] of rows) this.putStmt.run(dir, blob, this.token)
      })(),
    )
  }

  close(): void {
    this.flush()
    this.db.close()
  }

  /** `f()`, or undefined once the database has failed (the first failure is kept). */
  private guard<T>(f: () => T): T | undefined {
    if (this.failure !== undefined) return undefined
    try {
      return f()
    } catch (err) {
      this.failure = err instanceof Error ? err.message : String(err)
      this.pending = []
      return undefined
    }
  }
}

/**
 * A directory's records, back to back: u16 name length, name, u8 stamp length, stamp
 * (ASCII), the 32-byte content digest, u32 chunk count, the 32-byte chunk ids, u32 attribute count, then for each
 * attribute u32 name length, name, u32 value length, value. Big-endian.
 */
function encodeRecords(files: readonly (readonly [Buffer, CachedFile])[]): Buffer {
  let size = 0
  for (const [name, f] of files) {
    size += 2 + name.length + 1 + f.stamp.length + 32 + 4 + 32 * f.chunks.length + 4
    for (const x of f.xattrs) size += 4 + x.length
  }
  const out = Buffer.allocUnsafe(size)
  let at = 0
  for (const [name, f] of files) {
    at = out.writeUInt16BE(name.length, at)
    at += name.copy(out, at)
    at = out.writeUInt8(f.stamp.length, at)
    at += out.write(f.stamp, at, 'latin1')
    at += f.digest.copy(out, at)
    at = out.writeUInt32BE(f.chunks.length, at)
    for (const c of f.chunks) at += c.copy(out, at)
    at = out.writeUInt32BE(f.xattrs.length / 2, at)
    for (const x of f.xattrs) {
      at = out.writeUInt32BE(x.length, at)
      at += x.copy(out, at)
    }
  }
  return out
}

function decodeRecords(b: Buffer): Map<string, CachedFile> {
  const out = new Map<string, CachedFile>()
  let at = 0
  const need = (n: number) => at + n <= b.length
  while (need(2)) {
    const nameLength = b.readUInt16BE(at)
    if (!need(2 + nameLength + 1)) break
    const name = b.toString('latin1', at + 2, at + 2 + nameLength)
    at += 2 + nameLength
    const stampLength = b[at]!
    if (!need(1 + stampLength + 32 + 4)) break
    const stamp = b.toString('latin1', at + 1, at + 1 + stampLength)
    at += 1 + stampLength
    const digest = b.subarray(at, at + 32)
    at += 32
    const count = b.readUInt32BE(at)
    at += 4
    if (!need(32 * count + 4)) break
    const chunks: Buffer[] = new Array(count)
    for (let i = 0; i < count; i++, at += 32) chunks[i] = b.subarray(at, at + 32)
    const pairs = b.readUInt32BE(at)
    at += 4
    const xattrs: Buffer[] = []
    let ok = true
    for (let i = 0; i < 2 * pairs; i++) {
      if (!need(4) || !need(4 + b.readUInt32BE(at))) {
        ok = false
        break
      }
      const n = b.readUInt32BE(at)
      xattrs.push(b.subarray(at + 4, at + 4 + n))
      at += 4 + n
    }
    if (!ok) break
    out.set(name, { stamp, digest, chunks, xattrs })
  }
  return out
}
