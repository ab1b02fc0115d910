/**
 * sqlite:///path/file.db: every object in one SQLite file (layout in docs/plakar-storage.md).
 *
 *   objects(id, kind, name, size, mtime)   one row per object, UNIQUE (kind, name)
 *   segments(object, start, data)          the bytes, in pieces of at most 64 KiB
 *
 * Splitting objects into segments makes a range read touch only the rows it needs (SQLite
 * reads a whole BLOB to take a substr of it: an 8 KiB read of a 16 MiB pack took 1.5 ms
 * that way, against ~30 µs here). Readers find segments by their start offset, so a
 * later writer may change the segment size without breaking old files. A put is one
 * IMMEDIATE transaction: other processes see all of the object or none of it.
 * WAL mode with synchronous=FULL (a put is durable once it returns) and a busy timeout,
 * so that several processes can write the same file; writes are serialised by SQLite.
 * better-sqlite3 is synchronous: a put blocks this thread for the time of its transaction.
 * mtime is the writer's Date.now() inside that transaction; a re-put of identical bytes
 * moves it forward. Opening a layout 1 file upgrades it to layout 2 in place (#upgrade).
 */
import { statSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { StorageError } from '../errors.js'
import { checkName, checkRange, closedError, exists, notFound, rangeEnd } from './checks.js'
import { pathLocation, urlPath } from './location.js'
import { assembleSegments } from './segments.js'
import type { ObjectInfo, ObjectKind, Store, StoreFactory } from './store.js'

/** 'PLKR': marks the file as a plakar store; user_version is the layout version. */
export const SQLITE_APPLICATION_ID = 0x504c4b52
export const SQLITE_LAYOUT_VERSION = 2
const BUSY_TIMEOUT_MS = 60_000
const LIST_PAGE = 1000

const SCHEMA = `
  CREATE TABLE objects (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime INTEGER NOT NULL,
    UNIQUE (kind, name)
  );
  CREATE TABLE segments (
    object INTEGER NOT NULL,
    start INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (object, start)
  );
`

/**
 * Layout 1 -> 2: objects gains mtime. ADD COLUMN cannot default to the time, so the column
 * is nullable here; the rows already there take the upgrade's time (bound separately),
 * later than their put, which is the safe side for a collector. A plakar of layout 1 that
 * had the file open before the upgrade keeps inserting rows without mtime until it exits:
 * the trigger stamps those with the time of their insert. Both stay for good, because
 * nothing can tell when the last such writer is gone; the trigger costs one comparison per
 * put.
 */
const UPGRADE_1_TO_2 = `
  ALTER TABLE objects ADD COLUMN mtime INTEGER;
  CREATE TRIGGER objects_mtime_of_layout_1_writers AFTER INSERT ON objects
    WHEN NEW.mtime IS NULL
  BEGIN
    UPDATE objects SET mtime = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
      WHERE id = NEW.id;
  END;
`

/**
 * How a new file is laid out and how connections write. The defaults were chosen by the
 * storage benchmark (test/storage/throughput.ts, figures in docs/plakar-storage.md);
 * other values exist for that comparison, not for users.
 */
export interface SqliteTuning {
  /** Page size of a new file: 64 KiB pages halve the cost of BLOB overflow chains. */
  readonly pageSize: number
  /** WAL lets readers run during a write and several processes share the file. */
  readonly journal: 'wal' | 'delete'
  /** FULL: a put is durable when it returns (the contract); NORMAL only for comparison. */
  readonly synchronous: 'full' | 'normal'
  /** Largest segment a put writes. */
  readonly segment: number
}

export const SQLITE_TUNING: SqliteTuning = {
  pageSize: 65536,
  journal: 'wal',
  synchronous: 'full',
  segment: 65536,
}

interface ObjectRow {
  id: number
  size: number
}
interface SegmentRow {
  start: number
  data: Buffer
}

class Connection {
  readonly findObject: Database.Statement<[string, string], ObjectRow>
  readonly insertObject: Database.Statement<[string, string, number, number]>
  readonly touchObject: Database.Statement<[number, number]>
  readonly insertSegment: Database.Statement<[number | bigint, number, Buffer]>
  readonly segments: Database.Statement<[number], SegmentRow>
  readonly segmentsIn: Database.Statement<{ object: number; start: number; end: number }, SegmentRow>
  readonly listPage: Database.Statement<[string, string, number], ObjectInfo>
  readonly deleteSegments: Database.Statement<[number]>
  readonly deleteObject: Database.Statement<[number]>

  constructor(readonly db: Database.Database) {
    this.findObject = db.prepare('SELECT id, size FROM objects WHERE kind = ? AND name = ?')
    this.insertObject = db.prepare('INSERT INTO objects (kind, name, size, mtime) VALUES (?, ?, ?, ?)')
    this.touchObject = db.prepare('UPDATE objects SET mtime = max(mtime, ?) WHERE id = ?')
    this.insertSegment = db.prepare('INSERT INTO segments (object, start, data) VALUES (?, ?, ?)')
    this.segments = db.prepare('SELECT start, data FROM segments WHERE object = ? ORDER BY start')
    this.segmentsIn = db.prepare(
      `SELECT start, data FROM segments WHERE object = @object AND start < @end AND start >=
         (SELECT max(start) FROM segments WHERE object = @object AND start <= @start) ORDER BY start`,
    )
    this.listPage = db.prepare(
      'SELECT name, size, mtime FROM objects WHERE kind = ? AND name > ? ORDER BY name LIMIT ?',
    )
    this.deleteSegments = db.prepare('DELETE FROM segments WHERE object = ?')
    this.deleteObject = db.prepare('DELETE FROM objects WHERE id = ?')
  }
}

export class SqliteStore implements Store {
  readonly location: string
  /**
   * One connection, and better-sqlite3 runs each request to its end on this thread: requests
   * are served one after another whatever the caller keeps in flight.
   */
  readonly concurrency = 1
  /** One connection: puts are serialised anyway. */
  readonly largePuts = 1
  readonly path: string
  readonly #tuning: SqliteTuning
  #conn: Connection | undefined
  #closed = false

  constructor(path: string, tuning: SqliteTuning = SQLITE_TUNING) {
    this.path = path
    this.#tuning = tuning
    this.location = pathLocation('sqlite', path)
  }

  async create(): Promise<void> {
    this.#check()
    const parent = dirname(this.path)
    if (!statSync(parent, { throwIfNoEntry: false })?.isDirectory()) {
      throw new StorageError('STORAGE_BAD_LOCATION', `${this.location}: directory ${parent} does not exist`)
    }
    this.#guard('create', () => {
      const db = new Database(this.path)
      try {
        this.#configure(db)
        // Look before writing anything: another program's database stays untouched.
        this.#refuseOccupied(db)
        // Only take effect on a new file, before its first table.
        db.pragma(`page_size = ${this.#tuning.pageSize}`)
        db.pragma('auto_vacuum = INCREMENTAL')
        db.pragma(`journal_mode = ${this.#tuning.journal}`)
        db.transaction(() => {
          this.#refuseOccupied(db) // again, under the write lock: another create may have won
          db.exec(SCHEMA)
          db.pragma(`application_id = ${SQLITE_APPLICATION_ID}`)
          db.pragma(`user_version = ${SQLITE_LAYOUT_VERSION}`)
        }).immediate()
        this.#conn = new Connection(db)
      } catch (err) {
        db.close()
        throw err
      }
    })
  }

  async open(): Promise<void> {
    this.#connection()
  }

  async put(kind: ObjectKind, name: string, data: Uint8Array): Promise<void> {
    checkName(this.location, kind, name)
    const c = this.#connection()
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    this.#guard(`write ${kind} ${name}`, () =>
      c.db
        .transaction(() => {
          const old = c.findObject.get(kind, name)
          if (old !== undefined) {
            if (old.size !== bytes.byteLength || !this.#read(c, old, 0, old.size).equals(bytes)) {
              throw exists(this.location, kind, name)
            }
            c.touchObject.run(Date.now(), old.id)
            return
          }
          const id = c.insertObject.run(kind, name, bytes.byteLength, Date.now()).lastInsertRowid
          const segment = this.#tuning.segment
          for (let start = 0; start < bytes.byteLength; start += segment) {
            c.insertSegment.run(id, start, bytes.subarray(start, start + segment))
          }
        })
        .immediate(),
    )
  }

  async get(kind: ObjectKind, name: string, offset?: number, length?: number): Promise<Uint8Array> {
    checkName(this.location, kind, name)
    const range = checkRange(offset, length)
    const c = this.#connection()
    return this.#guard(`read ${kind} ${name}`, () =>
      // One read transaction: a concurrent delete cannot tear the object out from under us.
      c.db.transaction(() => {
        const row = c.findObject.get(kind, name)
        if (row === undefined) throw notFound(this.location, kind, name)
        const end = rangeEnd(this.location, kind, name, range, row.size)
        return this.#read(c, row, range.start, end)
      })(),
    )
  }

  async stat(kind: ObjectKind, name: string): Promise<number | undefined> {
    checkName(this.location, kind, name)
    const c = this.#connection()
    return this.#guard(`stat ${kind} ${name}`, () => c.findObject.get(kind, name)?.size)
  }

  async *list(kind: ObjectKind): AsyncIterable<ObjectInfo> {
    const c = this.#connection()
    // Pages by name: bounded memory, and no statement stays open between yields.
    let after = ''
    for (;;) {
      const page = this.#guard(`list ${kind}`, () => c.listPage.all(kind, after, LIST_PAGE))
      for (const row of page) yield { name: row.name, size: row.size, mtime: row.mtime }
      if (page.length < LIST_PAGE) return
      after = page[page.length - 1]!.name
    }
  }

  async delete(kind: ObjectKind, name: string): Promise<void> {
    checkName(this.location, kind, name)
    const c = this.#connection()
    this.#guard(`delete ${kind} ${name}`, () =>
      c.db
        .transaction(() => {
          const row = c.findObject.get(kind, name)
          if (row === undefined) return
          c.deleteSegments.run(row.id)
          c.deleteObject.run(row.id)
        })
        .immediate(),
    )
  }

  /** A put is a transaction, so nothing is left behind; this returns deleted objects' pages to the filesystem. */
  async clean(): Promise<number> {
    const c = this.#connection()
    this.#guard('clean', () => c.db.pragma('incremental_vacuum'))
    return 0
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#conn?.db.close()
    this.#conn = undefined
  }

  /** Bytes [start, end) of an object from its segments; a gap means the file was damaged. */
  #read(c: Connection, row: ObjectRow, start: number, end: number): Buffer {
    if (end === start) return Buffer.alloc(0)
    const rows =
      start === 0 && end === row.size
        ? c.segments.all(row.id)
        : c.segmentsIn.all({ object: row.id, start, end })
    return assembleSegments(rows, start, end, `${this.location}: object ${row.id}`)
  }

  #refuseOccupied(db: Database.Database): void {
    if (db.pragma('application_id', { simple: true }) === SQLITE_APPLICATION_ID) {
      throw new StorageError('STORAGE_EXISTS', `${this.location}: a repository already exists here`)
    }
    const tables = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as {
      n: number
    }
    if (tables.n > 0) {
      throw new StorageError(
        'STORAGE_BAD_LOCATION',
        `${this.location}: a database of another program is here`,
      )
    }
  }

  #connection(): Connection {
    this.#check()
    if (this.#conn !== undefined) return this.#conn
    this.#conn = this.#guard('open', () => {
      const info = statSync(this.path, { throwIfNoEntry: false })
      if (info === undefined) throw this.#noRepository()
      if (!info.isFile()) throw new StorageError('STORAGE_BAD_LOCATION', `${this.location}: not a file`)
      const db = new Database(this.path, { fileMustExist: true })
      try {
        this.#configure(db)
        const app = db.pragma('application_id', { simple: true }) as number
        const version = db.pragma('user_version', { simple: true }) as number
        if (app !== SQLITE_APPLICATION_ID) {
          const tables = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as {
            n: number
          }
          if (tables.n === 0) throw this.#noRepository()
          throw new StorageError('STORAGE_BAD_LOCATION', `${this.location}: a database of another program`)
        }
        if (version > SQLITE_LAYOUT_VERSION) {
          throw new StorageError(
            'STORAGE_BAD_LOCATION',
            `${this.location}: storage layout ${version} is newer than this plakar supports (${SQLITE_LAYOUT_VERSION})`,
          )
        }
        if (version < SQLITE_LAYOUT_VERSION) this.#upgrade(db)
        return new Connection(db)
      } catch (err) {
        db.close()
        throw err
      }
    })
    return this.#conn
  }

  /** Bring a file of an older layout to this one, in one transaction (docs/plakar-storage.md). */
  #upgrade(db: Database.Database): void {
    db.transaction(() => {
      // Again under the write lock: another process may have upgraded it meanwhile.
      const version = db.pragma('user_version', { simple: true }) as number
      if (version === SQLITE_LAYOUT_VERSION) return
      if (version !== 1) {
        throw new StorageError(
          'STORAGE_BAD_LOCATION',
          `${this.location}: storage layout ${version} is not one this plakar can open`,
        )
      }
      db.exec(UPGRADE_1_TO_2)
      db.prepare('UPDATE objects SET mtime = ?').run(Date.now())
      db.pragma(`user_version = ${SQLITE_LAYOUT_VERSION}`)
    }).immediate()
  }

  #configure(db: Database.Database): void {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
    db.pragma(`synchronous = ${this.#tuning.synchronous}`)
    // The WAL grows by a whole pack per put; truncate it back after each checkpoint.
    db.pragma('journal_size_limit = 67108864')
  }

  /** Runs a database step, turning SQLite's failures into one-line StorageErrors. */
  #guard<T>(what: string, step: () => T): T {
    try {
      return step()
    } catch (err) {
      if (err instanceof StorageError || err instanceof RangeError) throw err
      const code = (err as { code?: string }).code ?? ''
      const message = (err as Error).message
      if (code === 'SQLITE_NOTADB') {
        throw new StorageError('STORAGE_BAD_LOCATION', `${this.location}: not a SQLite database`, {
          cause: err,
        })
      }
      if (code === 'SQLITE_BUSY') {
        throw new StorageError(
          'STORAGE_IO',
          `${this.location}: cannot ${what}: database stayed locked for ${BUSY_TIMEOUT_MS / 1000} s`,
          { cause: err },
        )
      }
      throw new StorageError(
        'STORAGE_IO',
        `${this.location}: cannot ${what}: ${message} (${code || 'error'})`,
        {
          cause: err,
        },
      )
    }
  }

  #noRepository(): StorageError {
    return new StorageError('STORAGE_NOT_FOUND', `${this.location}: no repository here`)
  }

  #check(): void {
    if (this.#closed) throw closedError(this.location)
  }
}

export const sqliteStoreFactory: StoreFactory = {
  scheme: 'sqlite',
  fromURL: (url) => new SqliteStore(urlPath(url)),
}
