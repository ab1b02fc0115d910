/**
 * Storage throughput, backend by backend, run side by side (not a test):
 *   pnpm --filter @poolp/plakar bench:storage [-- --runs 3 --packs 16 --dir /tmp]
 * Puts and gets pack-sized objects (16 MiB, incompressible), small objects (4 KiB, like
 * locks and snapshots), and random 16 KiB range reads (a restore reading blobs out of
 * packs). Prints medians of the runs; the SQLite variants show why the defaults are what
 * they are; the first row is the baseline, the least a durable file write costs. Run it on
 * a quiet machine: the disk and the page cache are shared with everything else.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promises as fsp, mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import {
  FsStore,
  MemoryStore,
  type ObjectInfo,
  type ObjectKind,
  PostgresStore,
  SqliteStore,
  type Store,
} from '../../src/storage/index.js'
import { parsePostgresURL } from '../../src/storage/store-postgres.js'
import { SQLITE_TUNING } from '../../src/storage/store-sqlite.js'

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    packs: { type: 'string', default: '16' },
    small: { type: 'string', default: '1000' },
    dir: { type: 'string', default: tmpdir() },
    postgres: { type: 'string', default: 'postgres://root@127.0.0.1:5432/test' },
    only: { type: 'string' },
  },
})
const RUNS = Number(values.runs)
const PACKS = Number(values.packs)
const SMALL = Number(values.small)
const PACK = 16 << 20

/**
 * The baseline: the least a durable file write costs here (write, fsync; one open per
 * read), without the temp file, link, directory fsync or any checks of FsStore.
 */
class RawFiles implements Store {
  readonly location: string
  readonly concurrency = 8
  readonly largePuts = 1
  constructor(readonly dir: string) {
    this.location = `raw://${dir}`
  }
  async create(): Promise<void> {}
  async open(): Promise<void> {}
  async put(_kind: ObjectKind, name: string, data: Uint8Array): Promise<void> {
    const fh = await fsp.open(join(this.dir, name), 'w')
    await fh.writeFile(data)
    await fh.sync()
    await fh.close()
  }
  async get(_kind: ObjectKind, name: string, offset = 0, length?: number): Promise<Uint8Array> {
    const fh = await fsp.open(join(this.dir, name), 'r')
    try {
      const size = length ?? (await fh.stat()).size - offset
      const buf = Buffer.allocUnsafe(size)
      await fh.read(buf, 0, size, offset)
      return buf
    } finally {
      await fh.close()
    }
  }
  async stat(): Promise<number | undefined> {
    return undefined
  }
  async *list(): AsyncIterable<ObjectInfo> {}
  async delete(): Promise<void> {}
  async clean(): Promise<number> {
    return 0
  }
  async close(): Promise<void> {}
}

type Make = (dir: string, run: number) => Store

/** A PostgresStore in a schema of its own, dropped (by measure) once measured. */
function postgres(segment: number): Make {
  return (_d, run) => {
    const url = new URL(values.postgres!)
    url.search = `?schema=plakar_bench_${process.pid}_${run}_${segment}`
    return new PostgresStore(parsePostgresURL(url), segment)
  }
}

async function dropSchema(store: PostgresStore): Promise<void> {
  const { default: pg } = await import('pg')
  const t = store.target
  const c = new pg.Client({ host: t.host, port: t.port, database: t.database, user: t.user })
  await c.connect()
  await c.query(`DROP SCHEMA IF EXISTS "${t.schema}" CASCADE`)
  await c.end()
}
const backends: [string, Make][] = [
  ['baseline: raw files (write+fsync, open per read)', (d) => new RawFiles(d)],
  ['memory', (_d, run) => new MemoryStore(`bench-${process.pid}-${run}`)],
  ['fs', (d) => new FsStore(join(d, 'fs'))],
  ['sqlite (default: WAL, 64 KiB pages, sync FULL)', (d) => new SqliteStore(join(d, 'a.db'))],
  ['sqlite WAL, 4 KiB pages', (d) => new SqliteStore(join(d, 'b.db'), { ...SQLITE_TUNING, pageSize: 4096 })],
  [
    'sqlite 65,000-byte segments',
    (d) => new SqliteStore(join(d, 'e.db'), { ...SQLITE_TUNING, segment: 65_000 }),
  ],
  [
    'sqlite 256 KiB segments',
    (d) => new SqliteStore(join(d, 'f.db'), { ...SQLITE_TUNING, segment: 262_144 }),
  ],
  [
    'sqlite rollback journal, 64 KiB pages',
    (d) => new SqliteStore(join(d, 'c.db'), { ...SQLITE_TUNING, journal: 'delete' }),
  ],
  [
    'sqlite WAL, sync NORMAL (not durable)',
    (d) => new SqliteStore(join(d, 'd.db'), { ...SQLITE_TUNING, synchronous: 'normal' }),
  ],
  ['postgres (default: 1 MiB segments)', postgres(1 << 20)],
  ['postgres 256 KiB segments', postgres(256 << 10)],
  ['postgres 64 KiB segments', postgres(64 << 10)],
]

const packs = Array.from({ length: PACKS }, () => randomBytes(PACK))
const smalls = Array.from({ length: SMALL }, () => randomBytes(4096))
const packName = (i: number) => i.toString(16).padStart(64, '0')

async function seconds(step: () => Promise<void>): Promise<number> {
  const t = process.hrtime.bigint()
  await step()
  return Number(process.hrtime.bigint() - t) / 1e9
}

interface Figures {
  putMBs: number
  put4MBs: number
  getMBs: number
  rangeOps: number
  smallPutOps: number
}

async function measure(make: Make, run: number): Promise<Figures> {
  const dir = mkdtempSync(join(values.dir!, 'plakar-store-bench-'))
  const store = make(dir, run)
  try {
    await store.create()
    const mb = (PACKS * PACK) / 1e6
    const put = await seconds(async () => {
      for (let i = 0; i < PACKS; i++) await store.put('pack', packName(i), packs[i]!)
    })
    // Four puts in flight, as the repository's packer may have.
    const put4 = await seconds(async () => {
      for (let i = 0; i < PACKS; i += 4) {
        await Promise.all(packs.slice(i, i + 4).map((p, k) => store.put('pack', packName(PACKS + i + k), p)))
      }
    })
    const get = await seconds(async () => {
      for (let i = 0; i < PACKS; i++) await store.get('pack', packName(i))
    })
    const RANGES = 2000
    const range = await seconds(async () => {
      for (let i = 0; i < RANGES; i++) {
        await store.get('pack', packName((i * 7) % PACKS), ((i * 1_000_003) % (PACK - 16384)) & ~15, 16384)
      }
    })
    const small = await seconds(async () => {
      for (let i = 0; i < SMALL; i++) await store.put('snapshot', packName(i), smalls[i]!)
    })
    // A memory store outlives close(): free it, or it weighs on the backends measured next.
    await (store instanceof MemoryStore ? store.destroy() : store.close())
    return {
      putMBs: mb / put,
      put4MBs: mb / put4,
      getMBs: mb / get,
      rangeOps: RANGES / range,
      smallPutOps: SMALL / small,
    }
  } finally {
    if (store instanceof PostgresStore) await dropSchema(store)
    rmSync(dir, { recursive: true, force: true })
    // Deleting 256 MiB costs the filesystem later (journal, discard): pay it here, untimed,
    // rather than in the next backend's puts (measured: 497 vs 96 MB/s without this).
    execFileSync('sync')
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

console.log(`# storage throughput: ${PACKS} x 16 MiB packs, ${SMALL} x 4 KiB objects, medians of ${RUNS}`)
console.log(`# dir ${values.dir}, load average at start ${loadavg()[0]!.toFixed(1)}\n`)
console.log(
  '| backend | put MB/s | put MB/s (4 in flight) | get MB/s | 16 KiB range reads/s | 4 KiB puts/s |',
)
console.log('|---|---:|---:|---:|---:|---:|')
// Runs go round the backends in turn, so that a busy spell of the machine hits them all.
const chosen = backends.filter(([label]) => values.only === undefined || new RegExp(values.only).test(label))
const results = new Map<string, Figures[]>(chosen.map(([label]) => [label, []]))
for (let r = 0; r < RUNS; r++) {
  for (const [label, make] of chosen) results.get(label)!.push(await measure(make, r))
}
for (const [label, runs] of results) {
  const m = (k: keyof Figures) => median(runs.map((f) => f[k])).toFixed(0)
  console.log(
    `| ${label} | ${m('putMBs')} | ${m('put4MBs')} | ${m('getMBs')} | ${m('rangeOps')} | ${m('smallPutOps')} |`,
  )
}
