import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'

/**
 * The file-metadata cache: for each absolute path backed up before, the metadata it had
 * (device, inode, size, mtime, ctime) and its chunk ids, so that an unchanged file is not
 * read again. It lives in the repository's local cache database (one SQLite file per
 * repository, WAL mode), in its own table.
 *
 * CONTRACT: the cache is a hint, never the truth. A hit is used only when every metadata
 * field matches and the archiver has checked that every chunk is in the repository; a
 * deleted, stale or foreign cache can cost a re-read, never a wrong backup.
 */
export interface CachedFile {
  readonly dev: bigint
  readonly ino: bigint
  readonly size: bigint
  readonly mtimeNs: bigint
  readonly ctimeNs: bigint
  readonly chunks: Buffer[]
}

const BATCH = 512

export class FileCache {
  private readonly db: Database.Database
  private readonly getStmt: Database.Statement
  private readonly putStmt: Database.Statement
  private pending: unknown[][] = []

  private constructor(
    db: Database.Database,
    private readonly owned: boolean,
  ) {
    this.db = db
    this.db.exec(`CREATE TABLE IF NOT EXISTS snapshot_files (
      path BLOB PRIMARY KEY, dev INTEGER, ino INTEGER, size INTEGER,
      mtime_ns INTEGER, ctime_ns INTEGER, chunks BLOB) WITHOUT ROWID`)
    this.getStmt = this.db
      .prepare('SELECT dev, ino, size, mtime_ns, ctime_ns, chunks FROM snapshot_files WHERE path = ?')
      .safeIntegers(true)
    this.putStmt = this.db.prepare('INSERT OR REPLACE INTO snapshot_files VALUES (?, ?, ?, ?, ?, ?, ?)')
  }

  /** Open (creating) the cache of repository `repositoryId` in directory `dir`. */
  static open(dir: string, repositoryId: string): FileCache {
    mkdirSync(dir, { recursive: true })
    const db = new Database(join(dir, `${repositoryId}.db`))
    db.pragma('journal_mode = WAL')
    db.pragma('busy_timeout = 10000')
    return new FileCache(db, true)
  }

  /** Keep the table in a database someone else owns (the repository's local cache). */
  static in(db: Database.Database): FileCache {
    return new FileCache(db, false)
  }

  get(path: Buffer): CachedFile | undefined {
    const row = this.getStmt.get(path) as
      | { dev: bigint; ino: bigint; size: bigint; mtime_ns: bigint; ctime_ns: bigint; chunks: Buffer }
      | undefined
    if (row === undefined || row.chunks.length % 32 !== 0) return undefined
    const chunks: Buffer[] = []
    for (let i = 0; i < row.chunks.length; i += 32) chunks.push(row.chunks.subarray(i, i + 32))
    return {
      dev: row.dev,
      ino: row.ino,
      size: row.size,
      mtimeNs: row.mtime_ns,
      ctimeNs: row.ctime_ns,
      chunks,
    }
  }

  put(path: Buffer, f: CachedFile): void {
    this.pending.push([path, f.dev, f.ino, f.size, f.mtimeNs, f.ctimeNs, Buffer.concat(f.chunks)])
    if (this.pending.length >= BATCH) this.flush()
  }

  flush(): void {
    if (this.pending.length === 0) return
    const rows = this.pending
    this.pending = []
    this.db.transaction(() => {
      for (const r of rows) this.putStmt.run(...r)
    })()
  }

  close(): void {
    this.flush()
    if (this.owned) this.db.close()
  }
}
