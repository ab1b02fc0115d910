/**
 * postgres://USER@HOST:PORT/DB[?schema=NAME]: every object in one PostgreSQL schema
 * (postgres layout 1 in docs/plakar-storage.md; default schema `plakar`).
 *
 *   layout(version, application)               one row: marks the schema as a plakar store
 *   objects(id, kind, name, size, mtime)       one row per object, UNIQUE (kind, name)
 *   segments(object, start, data)              the bytes, bytea pieces of at most 1 MiB
 *
 * The segments are the SQLite layout's (segments.ts), sized by measurement: against one
 * bytea per object or large objects, 1 MiB segments stored EXTERNAL (no compression try on
 * encrypted bytes, and substring() fetches only the TOAST chunks it needs) were the fastest
 * for puts, whole gets and 16 KiB ranges alike (figures in docs/plakar-storage.md).
 *
 * A put is one transaction on one pooled connection: the INSERT of the object row is the
 * exclusive create (a racing writer of the same name waits on the unique index, then finds
 * the winner's row), and nothing is visible before COMMIT, which is durable. A get or a list
 * page is one statement, so it sees one snapshot: a concurrent delete cannot tear an object.
 * mtime is the server's clock, so many hosts pushing into one database agree on it.
 *
 * Reads of more than a few KiB leave the server as binary COPY (pg-copy-streams): the
 * driver receives bytea results as hex text only, and decoding it cost more than the rest
 * of a restore's reads together (130 MB of packs: 1.3-2.0 s as hex rows, 0.25 s as COPY).
 * Small reads (a restore's directory blobs) stay prepared statements, faster below ~32 KiB.
 *
 * The drivers are loaded on first use, not when the backend is registered. A hot standby
 * serves every read; a write there fails STORAGE_READ_ONLY with one line.
 */
import type { Pool, PoolClient } from 'pg'
import { StorageError } from '../errors.js'
import { checkName, checkRange, closedError, exists, notFound, rangeEnd, sameBytes } from './checks.js'
import { assembleSegments, type Segment } from './segments.js'
import type { ObjectInfo, ObjectKind, Store, StoreFactory } from './store.js'

export const POSTGRES_LAYOUT_VERSION = 1
const APPLICATION = 'plakar'
const DEFAULT_SCHEMA = 'plakar'
/** Largest segment a put writes (readers take any size); other sizes are for the benchmark. */
export const POSTGRES_SEGMENT = 1 << 20
const LIST_PAGE = 1000
/** Connections per store: as many as are worth keeping busy (see concurrency). */
const POOL_SIZE = 4
const CONNECT_TIMEOUT_MS = 30_000
/** Reads of at least this many bytes (and whole objects) come as binary COPY. */
const COPY_MIN = 32 << 10
/** A schema name plakar creates and quotes: PostgreSQL's unquoted identifiers, lower case. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/
/** The server's clock, in integer ms since the epoch. */
const NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::int8'

export interface PostgresTarget {
  readonly host: string
  readonly port: number
  readonly user: string | undefined
  readonly password: string | undefined
  readonly database: string
  readonly schema: string
}

/** Parse a postgres:// (or postgresql://) URL; the password, if any, never shows in `location`. */
export function parsePostgresURL(url: URL): PostgresTarget {
  const user = url.username === '' ? '' : `${url.username}@`
  // No query string: an unknown parameter's value may be a secret (password=...).
  const shown = `${url.protocol}//${user}${url.host}${url.pathname}`
  const bad = (why: string) => new StorageError('STORAGE_BAD_LOCATION', `${shown}: ${why}`)
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s)
    } catch {
      throw bad('bad percent-encoding')
    }
  }
  if (url.hostname === '') throw bad('a host is needed (postgres://USER@HOST:PORT/DB)')
  const database = decode(url.pathname.slice(1))
  if (database === '' || database.includes('/')) throw bad('want one database name after the host')
  if (url.hash !== '') throw bad('unexpected fragment')
  let schema = DEFAULT_SCHEMA
  for (const [key, value] of url.searchParams) {
    if (key !== 'schema') throw bad(`unknown parameter ${key} (known: schema)`)
    if (!SCHEMA_NAME.test(value))
      throw bad(`schema ${JSON.stringify(value)}: want 1-63 of [a-z0-9_], not a digit first`)
    schema = value
  }
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? 5432 : Number(url.port),
    user: url.username === '' ? undefined : decode(url.username),
    password: url.password === '' ? undefined : decode(url.password),
    database,
    schema,
  }
}

interface SegmentRow {
  size: string
  start: string | null
  data: Buffer | null
}

export class PostgresStore implements Store {
  readonly location: string
  /** Requests run on their own pooled connections, so this many proceed at once. */
  readonly concurrency = POOL_SIZE
  /** A put is several round trips and a commit: the next one overlaps them. */
  readonly largePuts = 2
  readonly target: PostgresTarget
  readonly #segment: number
  readonly #sql: ReturnType<typeof statements>
  #pool: Promise<Pool> | undefined
  #closed = false

  constructor(target: PostgresTarget, segment = POSTGRES_SEGMENT) {
    this.target = target
    this.#segment = segment
    const user = target.user === undefined ? '' : `${encodeURIComponent(target.user)}@`
    const host = target.host.includes(':') ? `[${target.host}]` : target.host
    this.location = `postgres://${user}${host}:${target.port}/${encodeURIComponent(target.database)}?schema=${target.schema}`
    this.#sql = statements(`"${target.schema}"`)
  }

  async create(): Promise<void> {
    const s = this.#sql
    await this.#transaction('create', async (c) => {
      // Creators of one schema take turns, so exactly one makes the tables.
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`plakar create ${this.target.schema}`])
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${s.schema}`)
      if ((await this.#tables(c)) > 0) {
        if (await this.#isOurs(c)) {
          throw new StorageError('STORAGE_EXISTS', `${this.location}: a repository already exists here`)
        }
        throw new StorageError(
          'STORAGE_BAD_LOCATION',
          `${this.location}: the schema holds another program's tables`,
        )
      }
      for (const ddl of s.create) await c.query(ddl)
      await c.query(s.mark, [POSTGRES_LAYOUT_VERSION, APPLICATION])
    })
  }

  async open(): Promise<void> {
    await this.#step('open', async (pool) => {
      const c = await pool.connect()
      try {
        if (await this.#isOurs(c)) return
        if ((await this.#tables(c)) > 0) {
          throw new StorageError(
            'STORAGE_BAD_LOCATION',
            `${this.location}: the schema holds another program's tables`,
          )
        }
        throw new StorageError('STORAGE_NOT_FOUND', `${this.location}: no repository here`)
      } finally {
        c.release()
      }
    })
  }

  async put(kind: ObjectKind, name: string, data: Uint8Array): Promise<void> {
    checkName(this.location, kind, name)
    const s = this.#sql
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    await this.#transaction(`write ${kind} ${name}`, async (c) => {
      const fresh = await c.query<{ id: string }>(s.insert, [kind, name, bytes.byteLength])
      if (fresh.rows.length === 1) {
        const id = fresh.rows[0]!.id
        const segment = this.#segment
        for (let start = 0; start < bytes.byteLength; start += segment) {
          await c.query(s.insertSegment, [id, start, bytes.subarray(start, start + segment)])
        }
        return
      }
      // The name was taken, by a writer that committed first (the INSERT waited for it).
      // Lock its row so that a delete cannot slip between the comparison and the touch.
      const old = await c.query<{ id: string; size: string }>(s.lockObject, [kind, name])
      const row = old.rows[0]
      if (row === undefined) throw new Retry()
      if (Number(row.size) !== bytes.byteLength) throw exists(this.location, kind, name)
      const segments = await c.query<SegmentRow>(s.whole, [kind, name])
      const have = assembleSegments(toSegments(segments.rows), 0, bytes.byteLength, this.#what(kind, name))
      if (!sameBytes(have, bytes)) throw exists(this.location, kind, name)
      await c.query(s.touch, [row.id])
    })
  }

  async get(kind: ObjectKind, name: string, offset?: number, length?: number): Promise<Uint8Array> {
    checkName(this.location, kind, name)
    const range = checkRange(offset, length)
    const s = this.#sql
    return this.#step(`read ${kind} ${name}`, async (pool) => {
      const whole = range.start === 0 && range.length === undefined
      const last = range.length === undefined ? Number.MAX_SAFE_INTEGER : range.start + range.length
      let rows: SegmentRow[]
      if (whole || (range.length ?? 0) >= COPY_MIN) {
        // checkName allows [0-9a-z-] and the kinds are ours: literals need no escaping.
        const sql = (whole ? s.whole : s.range).replace(/\$([1-4])/g, (_, n: string) =>
          [`'${kind}'`, `'${name}'`, range.start, last][Number(n) - 1]!.toString(),
        )
        if (sql.includes('$')) throw new Error(`postgres: unsubstituted parameter in ${sql}`)
        rows = await copyRows(pool, sql, this.#what(kind, name))
      } else {
        // A named statement: each connection plans it once (measured: a restore 5-8% faster).
        const values = [kind, name, range.start, last]
        rows = (await pool.query<SegmentRow>({ name: s.names.range, text: s.range, values })).rows
      }
      const first = rows[0]
      if (first === undefined) throw notFound(this.location, kind, name)
      const end = rangeEnd(this.location, kind, name, range, Number(first.size))
      return assembleSegments(toSegments(rows), range.start, end, this.#what(kind, name))
    })
  }

  async stat(kind: ObjectKind, name: string): Promise<number | undefined> {
    checkName(this.location, kind, name)
    return this.#step(`stat ${kind} ${name}`, async (pool) => {
      const s = this.#sql
      const r = await pool.query<{ size: string }>({ name: s.names.stat, text: s.stat, values: [kind, name] })
      return r.rows[0] === undefined ? undefined : Number(r.rows[0].size)
    })
  }

  async *list(kind: ObjectKind): AsyncIterable<ObjectInfo> {
    // Pages by name: bounded memory, and no cursor stays open between yields.
    let after = ''
    for (;;) {
      const page = await this.#step(`list ${kind}`, async (pool) => {
        const r = await pool.query<{ name: string; size: string; mtime: string }>(this.#sql.list, [
          kind,
          after,
          LIST_PAGE,
        ])
        return r.rows
      })
      for (const row of page) yield { name: row.name, size: Number(row.size), mtime: Number(row.mtime) }
      if (page.length < LIST_PAGE) return
      after = page[page.length - 1]!.name
    }
  }

  async delete(kind: ObjectKind, name: string): Promise<void> {
    checkName(this.location, kind, name)
    // The segments go with their row (ON DELETE CASCADE), in the statement's transaction.
    await this.#step(`delete ${kind} ${name}`, (pool) => pool.query(this.#sql.delete, [kind, name]))
  }

  /** A put is a transaction, so nothing is left behind; autovacuum reclaims deleted rows. */
  async clean(): Promise<number> {
    this.#check()
    return 0
  }

  async close(): Promise<void> {
    this.#closed = true
    const pool = this.#pool
    this.#pool = undefined
    if (pool !== undefined) await pool.then((p) => p.end()).catch(() => undefined)
  }

  /** How many tables the schema holds (ours or another program's). */
  async #tables(c: PoolClient): Promise<number> {
    const r = await c.query<{ n: string }>('SELECT count(*) AS n FROM pg_tables WHERE schemaname = $1', [
      this.target.schema,
    ])
    return Number(r.rows[0]!.n)
  }

  async #isOurs(c: PoolClient): Promise<boolean> {
    const found = await c.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [
      `${this.#sql.schema}.layout`,
    ])
    if (found.rows[0]?.t === null) return false
    const mark = await c.query<{ version: number; application: string }>(
      `SELECT version, application FROM ${this.#sql.schema}.layout`,
    )
    const row = mark.rows[0]
    if (row === undefined || row.application !== APPLICATION) return false
    if (row.version > POSTGRES_LAYOUT_VERSION) {
      throw new StorageError(
        'STORAGE_BAD_LOCATION',
        `${this.location}: storage layout ${row.version} is newer than this plakar supports (${POSTGRES_LAYOUT_VERSION})`,
      )
    }
    return true
  }

  /** `step` in BEGIN ... COMMIT on one connection; rolled back if it throws. Retry: once more. */
  async #transaction(what: string, step: (c: PoolClient) => Promise<void>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#step(what, async (pool) => {
          const c = await pool.connect()
          let broken: Error | undefined
          try {
            await c.query('BEGIN')
            await step(c)
            await c.query('COMMIT')
          } catch (err) {
            await c.query('ROLLBACK').catch((e: Error) => {
              broken = e
            })
            throw err
          } finally {
            // A connection that could not roll back is not given to the next request.
            c.release(broken)
          }
        })
        return
      } catch (err) {
        // The row a put found taken was deleted before it could lock it: start again.
        if (!(err instanceof Retry) || attempt >= 3) throw err instanceof Retry ? this.#fail(what, err) : err
      }
    }
  }

  #poolOf(): Promise<Pool> {
    this.#pool ??= import('pg').then(({ default: pg }) => {
      const t = this.target
      const pool = new pg.Pool({
        host: t.host,
        port: t.port,
        database: t.database,
        ...(t.user !== undefined && { user: t.user }),
        ...(t.password !== undefined && { password: t.password }),
        max: POOL_SIZE,
        connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
        idleTimeoutMillis: 10_000,
        keepAlive: true,
        application_name: 'plakar',
      })
      // An idle connection the server drops is reported here; the next request reconnects.
      pool.on('error', () => undefined)
      // A connection checked out (a put's transaction) that the server drops emits 'error'
      // on its client, which would end the process unhandled; the request it serves fails
      // on its own, with the driver's message, and the broken client is not reused.
      pool.on('connect', (client) => client.on('error', () => undefined))
      return pool
    })
    return this.#pool
  }

  /** Runs a database step, turning the driver's failures into one-line StorageErrors. */
  async #step<T>(what: string, step: (pool: Pool) => Promise<T>): Promise<T> {
    this.#check()
    try {
      return await step(await this.#poolOf())
    } catch (err) {
      if (err instanceof StorageError || err instanceof RangeError || err instanceof Retry) throw err
      throw this.#fail(what, err)
    }
  }

  #fail(what: string, err: unknown): StorageError {
    const code = String((err as { code?: unknown }).code ?? '')
    const message = String((err as Error).message ?? err)
      .replace(/\s+/g, ' ')
      .trim()
    const t = this.target
    if (code === '25006') {
      return new StorageError(
        'STORAGE_READ_ONLY',
        `${this.location}: cannot ${what}: the server is read-only (a hot standby: write to the primary)`,
        { cause: err },
      )
    }
    if (code === '42P01' || code === '3F000') {
      // Its tables (or the schema) are not there: never created, or dropped under us.
      return new StorageError('STORAGE_NOT_FOUND', `${this.location}: no repository here`, { cause: err })
    }
    if (code === '3D000') {
      return new StorageError('STORAGE_BAD_LOCATION', `${this.location}: ${message}`, { cause: err })
    }
    if (/^E[A-Z]+$/.test(code) || message.startsWith('timeout exceeded when trying to connect')) {
      return new StorageError(
        'STORAGE_IO',
        `${this.location}: cannot reach PostgreSQL at ${t.host}:${t.port}: ${message}`,
        { cause: err },
      )
    }
    const sqlstate = /^[0-9A-Z]{5}$/.test(code) ? ` (SQLSTATE ${code})` : ''
    return new StorageError('STORAGE_IO', `${this.location}: cannot ${what}: ${message}${sqlstate}`, {
      cause: err,
    })
  }

  #what(kind: ObjectKind, name: string): string {
    return `${this.location}: ${kind} ${name}`
  }

  #check(): void {
    if (this.#closed) throw closedError(this.location)
  }
}

/** A put found its name taken, then the row gone before it could lock it. */
class Retry extends Error {
  constructor() {
    super('object deleted during a put, more than 3 times in a row')
  }
}

/**
 * The rows of `select` (size, start, data: int8, int8, bytea) as binary COPY, on a pooled
 * connection: raw bytes, no hex. The format is PostgreSQL's (the COPY page of its manual):
 * an 11-byte signature, flags and a header extension, then per row a field count and each
 * field's length (-1: NULL) and bytes, then -1. A connection whose COPY failed midway is
 * not given back to the pool.
 */
let copyStreams: Promise<typeof import('pg-copy-streams')> | undefined

async function copyRows(pool: Pool, select: string, what: string): Promise<SegmentRow[]> {
  copyStreams ??= import('pg-copy-streams')
  const { to } = await copyStreams
  const c = await pool.connect()
  let broken: Error | undefined
  const chunks: Buffer[] = []
  try {
    const stream = c.query(to(`COPY (${select}) TO STDOUT (FORMAT binary)`))
    // The stream ends at CopyDone; a connection lost before the ReadyForQuery that follows
    // is reported on it again, after the loop has let go: that must not be unhandled.
    stream.on('error', () => undefined)
    for await (const chunk of stream) chunks.push(chunk as Buffer)
  } catch (err) {
    broken = err as Error
    throw err
  } finally {
    c.release(broken)
  }
  return parseBinaryCopy(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), what)
}

const COPY_SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1')

function parseBinaryCopy(b: Buffer, what: string): SegmentRow[] {
  const bad = () => new StorageError('STORAGE_IO', `${what}: PostgreSQL sent a malformed binary COPY stream`)
  // Flags: no OIDs, nothing we would have to understand.
  if (b.length < 21 || !b.subarray(0, 11).equals(COPY_SIGNATURE) || b.readUInt32BE(11) !== 0) throw bad()
  let off = 19 + b.readUInt32BE(15)
  const field = (): Buffer | null => {
    const n = b.readInt32BE(off)
    off += 4
    if (n === -1) return null
    if (n < 0 || off + n > b.length) throw bad()
    off += n
    return b.subarray(off - n, off)
  }
  const rows: SegmentRow[] = []
  try {
    for (;;) {
      const fields = b.readInt16BE(off)
      off += 2
      if (fields === -1) {
        if (off !== b.length) throw bad()
        return rows
      }
      if (fields !== 3) throw bad()
      const size = field()
      const start = field()
      const data = field()
      if (size === null || size.length !== 8 || (start !== null && start.length !== 8)) throw bad()
      rows.push({
        size: size.readBigInt64BE().toString(),
        start: start === null ? null : start.readBigInt64BE().toString(),
        data,
      })
    }
  } catch (err) {
    throw err instanceof RangeError ? bad() : err
  }
}

function toSegments(rows: SegmentRow[]): Segment[] {
  const out: Segment[] = []
  for (const row of rows)
    if (row.start !== null && row.data !== null) out.push({ start: Number(row.start), data: row.data })
  return out
}

/** The SQL of the layout, with the (validated, quoted) schema name in place. */
function statements(schema: string) {
  return {
    schema,
    /** Names of the prepared statements (per connection; the schema is part of their text). */
    names: {
      range: `plakar-range-${schema}`,
      stat: `plakar-stat-${schema}`,
    },
    create: [
      `CREATE TABLE ${schema}.layout (version integer NOT NULL, application text NOT NULL)`,
      `CREATE TABLE ${schema}.objects (
         id bigserial PRIMARY KEY,
         kind text NOT NULL,
         name text NOT NULL,
         size bigint NOT NULL,
         mtime bigint NOT NULL,
         UNIQUE (kind, name))`,
      `CREATE TABLE ${schema}.segments (
         object bigint NOT NULL REFERENCES ${schema}.objects (id) ON DELETE CASCADE,
         start bigint NOT NULL,
         data bytea NOT NULL,
         PRIMARY KEY (object, start))`,
      // Encrypted bytes do not compress; EXTERNAL also lets substring() read only its chunks.
      `ALTER TABLE ${schema}.segments ALTER COLUMN data SET STORAGE EXTERNAL`,
    ],
    mark: `INSERT INTO ${schema}.layout (version, application) VALUES ($1, $2)`,
    insert: `INSERT INTO ${schema}.objects (kind, name, size, mtime) VALUES ($1, $2, $3, ${NOW_MS})
             ON CONFLICT (kind, name) DO NOTHING RETURNING id`,
    insertSegment: `INSERT INTO ${schema}.segments (object, start, data) VALUES ($1, $2, $3)`,
    lockObject: `SELECT id, size FROM ${schema}.objects WHERE kind = $1 AND name = $2 FOR UPDATE`,
    touch: `UPDATE ${schema}.objects SET mtime = greatest(mtime, ${NOW_MS}) WHERE id = $1`,
    // One statement each: one snapshot, so a concurrent delete cannot tear what it returns.
    // An empty object has one row with no segment.
    whole: `SELECT o.size, s.start, s.data FROM ${schema}.objects o
            LEFT JOIN ${schema}.segments s ON s.object = o.id
            WHERE o.kind = $1 AND o.name = $2 ORDER BY s.start`,
    // Only the overlapping part of each overlapping segment leaves the server; it starts at
    // greatest(start, $3). $4 is the end of the range (or beyond the end of any object).
    range: `SELECT o.size, greatest(s.start, $3::int8) AS start,
              substring(s.data FROM (greatest($3::int8 - s.start, 0) + 1)::int4
                FOR least($4::int8 - greatest(s.start, $3::int8), 2147483647)::int4) AS data
            FROM ${schema}.objects o
            LEFT JOIN ${schema}.segments s
              ON s.object = o.id AND s.start < $4::int8 AND s.start + octet_length(s.data) > $3::int8
            WHERE o.kind = $1 AND o.name = $2 ORDER BY s.start`,
    stat: `SELECT size FROM ${schema}.objects WHERE kind = $1 AND name = $2`,
    list: `SELECT name, size, mtime FROM ${schema}.objects WHERE kind = $1 AND name > $2 ORDER BY name LIMIT $3`,
    delete: `DELETE FROM ${schema}.objects WHERE kind = $1 AND name = $2`,
  }
}

const fromURL = (url: URL) => new PostgresStore(parsePostgresURL(url))
export const postgresStoreFactories: StoreFactory[] = [
  { scheme: 'postgres', fromURL },
  { scheme: 'postgresql', fromURL },
]
