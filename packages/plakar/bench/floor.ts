/**
 * The floor: what the work of a backup and of a restore costs on this machine when nothing
 * else is done, set beside restic's and plakar's own times on the same tree, warm, in the same
 * run. It answers "can the targets be met here at all?" with figures, not opinions.
 *
 * Each unavoidable operation is timed alone, on one thread, over the whole tree, and counted
 * in CPU seconds (user + system, so the kernel's share of reading and creating files counts):
 *   backup:  walk + lstat, open/read/close, FastCDC, HMAC-SHA256 ids, zstd (the level plakar
 *            writes) and AES-256-GCM of each distinct chunk, writing the packs; plus Node's
 *            start-up and the passphrase KDF.
 *   restore: reading the packs, AES-256-GCM open, zstd decompress and HMAC check of each
 *            distinct blob, creating the files in a tmpfs with their mode and mtime.
 * The floor's wall time is that CPU spread perfectly over every core (the KDF, one thread's
 * work, overlapped), with no hand-off, no copy, no GC, no index, no tree: no real program
 * gets there, so a target the floor misses cannot be met by any design doing the same work.
 *
 *   pnpm bench:floor [--scale 1] [--seed 1] [--work DIR] [--runs 3] [--cores N]
 *
 * Needs restic (apt-get install -y restic) for the side-by-side figures, a built plakar, and
 * /dev/shm. The corpus is corpus.ts's (tree/ only).
 */
import { spawnSync } from 'node:child_process'
import { createCipheriv, createDecipheriv, createHmac, randomBytes, scryptSync } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { chunkerFor } from '../src/chunking/index.js'
import { ZSTD_LEVEL, zstdCodec } from '../src/compression/zstd.js'
import { DEFAULT_KDF } from '../src/crypto/kdf.js'
import { DEFAULT_CHUNKING } from '../src/repository/config.js'
import { parseOrExit, RUN_OPTIONS } from './args.js'
import { ensureCorpus } from './corpus.js'
import { measure, warmTree } from './measure.js'
import { plakar, plakarCli } from './tools/plakar.js'
import { restic } from './tools/restic.js'
import type { Tool } from './tools/tool.js'

const { values } = parseOrExit('bench:floor', () =>
  parseArgs({
    options: {
      ...RUN_OPTIONS,
      cores: { type: 'string', default: String(os.availableParallelism()) },
    },
  }),
)
const fail = (m: string): never => {
  console.error(`bench:floor: ${m}`)
  process.exit(2)
}
const scale = Number(values.scale)
const seed = Number(values.seed)
const runs = Number(values.runs)
const cores = Number(values.cores)
if (!(scale > 0 && scale <= 4)) fail('--scale must be in (0, 4]')
if (!Number.isInteger(runs) || runs < 1) fail('--runs must be a positive integer')
if (!Number.isInteger(cores) || cores < 1) fail('--cores must be a positive integer')
if (!fs.existsSync('/dev/shm')) fail('/dev/shm is missing: the restore floor creates its files there')

const work = path.resolve(values.work)
const corpus = ensureCorpus(path.join(work, `corpus-seed${seed}-scale${scale}`), seed, scale)
corpus.setVariant('original')
const tree = path.join(corpus.root, 'tree')

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

/** CPU seconds (user + system) of `fn` on this thread, median of `runs`; `after` is not timed. */
function cpu(label: string, fn: () => void, after?: () => void): number {
  const xs: number[] = []
  for (let i = 0; i < runs; i++) {
    const u = process.cpuUsage()
    fn()
    const d = process.cpuUsage(u)
    xs.push((d.user + d.system) / 1e6)
    after?.()
  }
  const m = median(xs)
  console.error(`  ${label}: ${m.toFixed(3)} s`)
  return m
}

// ---- The tree, in memory (what the operations below work on) ----
interface File {
  readonly rel: string
  readonly data: Buffer
}
const files: File[] = []
const dirs: string[] = []
;(function load(dir: string, rel: string) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const r = rel === '' ? e.name : `${rel}/${e.name}`
    if (e.isDirectory()) {
      dirs.push(r)
      load(path.join(dir, e.name), r)
    } else if (e.isFile()) files.push({ rel: r, data: fs.readFileSync(path.join(dir, e.name)) })
  }
})(tree, '')
const bytes = files.reduce((n, f) => n + f.data.length, 0)
console.error(
  `floor: ${files.length} files, ${dirs.length} dirs, ${(bytes / 1e6).toFixed(1)} MB, ${runs} runs, ${cores} cores`,
)

const chunker = chunkerFor(DEFAULT_CHUNKING.algorithm, DEFAULT_CHUNKING)
const chunks: Buffer[] = []
for (const f of files) for (const c of cut(f.data)) chunks.push(c)
function cut(data: Buffer): Buffer[] {
  const out: Buffer[] = []
  for (let at = 0; at < data.length; ) {
    const n = chunker.cut(data, at, data.length, true)
    out.push(data.subarray(at, at + n))
    at += n
  }
  return out
}
const idKey = randomBytes(32)
const dataKey = randomBytes(32)
// Only the first copy of a chunk is compressed, sealed, stored and opened (deduplication).
const seen = new Set<string>()
const unique = chunks.filter((c) => {
  const id = createHmac('sha256', idKey).update(c).digest('base64')
  if (seen.has(id)) return false
  seen.add(id)
  return true
})
const codec = zstdCodec(ZSTD_LEVEL)
const compressed = unique.map((c) => Buffer.from(codec.compressScratch!(c)))
const sealed = compressed.map((c) => {
  const iv = randomBytes(12)
  const e = createCipheriv('aes-256-gcm', dataKey, iv)
  return { iv, body: Buffer.concat([e.update(c), e.final()]), tag: e.getAuthTag() }
})
const stored = sealed.reduce((n, s) => n + s.body.length + 28, 0)

// ---- Backup ----
console.error('backup, one thread, CPU seconds:')
const walk = cpu('walk + lstat', () => {
  ;(function w(dir: string) {
    for (const name of fs.readdirSync(dir)) {
      const p = `${dir}/${name}`
      if (fs.lstatSync(p, { bigint: true }).isDirectory()) w(p)
    }
  })(tree)
})
const readBuf = Buffer.allocUnsafe(1 << 20)
const read = cpu('open + read + close', () => {
  for (const f of files) {
    const fd = fs.openSync(path.join(tree, f.rel), 'r')
    // The size is known from lstat: no read past it to find the end.
    for (let at = 0; at < f.data.length; )
      at += fs.readSync(fd, readBuf, 0, Math.min(readBuf.length, f.data.length - at), at)
    fs.closeSync(fd)
  }
})
const chunking = cpu(
  `FastCDC (${DEFAULT_CHUNKING.min >> 10}/${DEFAULT_CHUNKING.avg >> 10}/${DEFAULT_CHUNKING.max >> 10} KiB)`,
  () => {
    for (const f of files) cut(f.data)
  },
)
const hmac = cpu('HMAC-SHA256 ids', () => {
  for (const c of chunks) createHmac('sha256', idKey).update(c).digest()
})
const zstd = cpu(`zstd level ${ZSTD_LEVEL}`, () => {
  for (const c of unique) codec.compressScratch!(c)
})
const seal = cpu('AES-256-GCM seal', () => {
  for (const c of compressed) {
    const e = createCipheriv('aes-256-gcm', dataKey, randomBytes(12))
    e.update(c)
    e.final()
    e.getAuthTag()
  }
})
// The sealed blobs in packs of 8 MiB, as the repository holds them (on a tmpfs: no disk).
const packDir = fs.mkdtempSync('/dev/shm/plakar-floor-packs-')
const packs: Buffer[][] = [[]]
let packBytes = 0
for (const s of sealed) {
  if (packBytes >= 8 << 20) {
    packs.push([])
    packBytes = 0
  }
  packs[packs.length - 1]!.push(s.iv, s.body, s.tag)
  packBytes += s.body.length + 28
}
const writePacks = cpu('write the packs (tmpfs)', () => {
  packs.forEach((p, i) => {
    const fd = fs.openSync(path.join(packDir, String(i)), 'w')
    fs.writevSync(fd, p)
    fs.closeSync(fd)
  })
})
const startup = median(
  Array.from({ length: 5 }, () => {
    const t = performance.now()
    spawnSync(process.execPath, ['-e', '0'])
    return (performance.now() - t) / 1000
  }),
)
const kdf = cpu(`scrypt N=2^${Math.log2(DEFAULT_KDF.N)} (the passphrase)`, () => {
  scryptSync('passphrase', randomBytes(16), 32, {
    N: DEFAULT_KDF.N,
    r: DEFAULT_KDF.r,
    p: DEFAULT_KDF.p,
    maxmem: 256 * DEFAULT_KDF.N * DEFAULT_KDF.r + (1 << 20),
  })
})
console.error(`  node start-up (wall): ${startup.toFixed(3)} s`)

// ---- Restore ----
console.error('restore, one thread, CPU seconds:')
const packBuf = Buffer.allocUnsafe(16 << 20)
const readPacks = cpu('read the packs (tmpfs)', () => {
  packs.forEach((_, i) => {
    const fd = fs.openSync(path.join(packDir, String(i)), 'r')
    while (fs.readSync(fd, packBuf) > 0) {}
    fs.closeSync(fd)
  })
})
fs.rmSync(packDir, { recursive: true, force: true })
const open = cpu('AES-256-GCM open', () => {
  for (const s of sealed) {
    const d = createDecipheriv('aes-256-gcm', dataKey, s.iv)
    d.setAuthTag(s.tag)
    d.update(s.body)
    d.final()
  }
})
const check = cpu('HMAC-SHA256 check', () => {
  for (const c of unique) createHmac('sha256', idKey).update(c).digest()
})
const unzstd = cpu('zstd decompress', () => {
  for (const c of compressed) codec.decompressScratch!(c)
})
const target = fs.mkdtempSync('/dev/shm/plakar-floor-')
const mtime = new Date()
const create = cpu(
  'create the files in a tmpfs (mkdir, open, write, chmod, utimes, close)',
  () => {
    const root = path.join(target, 'out')
    fs.mkdirSync(root)
    for (const d of dirs) fs.mkdirSync(path.join(root, d))
    for (const f of files) {
      const fd = fs.openSync(path.join(root, f.rel), 'wx', 0o600)
      fs.writeSync(fd, f.data)
      fs.fchmodSync(fd, 0o644)
      fs.futimesSync(fd, mtime, mtime)
      fs.closeSync(fd)
    }
  },
  () => fs.rmSync(path.join(target, 'out'), { recursive: true, force: true }),
)
fs.rmSync(target, { recursive: true, force: true })

// ---- The tools, warm, side by side ----
interface Times {
  first: number
  nochange: number
  restore: number
}
/** One run of a tool: first backup, no-change backup, restore, in a fresh repository. */
async function runTool(tool: Tool, i: number): Promise<Times> {
  const base = fs.mkdtempSync(`/dev/shm/plakar-floor-${tool.name}-`)
  const ctx = {
    repo: path.join(base, 'repo'),
    home: path.join(base, 'home'),
    passphrase: 'bench-passphrase',
  }
  const logs = path.join(base, 'logs')
  for (const d of [ctx.repo, ctx.home, logs]) fs.mkdirSync(d, { recursive: true })
  try {
    await measure(tool.init(ctx), path.join(logs, 'init'))
    warmTree(tree)
    const first = await measure(tool.backup(ctx, tree, 1), path.join(logs, 'first'))
    const nochange = await measure(tool.backup(ctx, tree, 2), path.join(logs, 'nochange'))
    const out = path.join(base, 'out')
    fs.mkdirSync(out)
    const restore = await measure(tool.restore(ctx, out, 2), path.join(logs, 'restore'))
    console.error(
      `${tool.name} run ${i + 1}: first ${first.seconds.toFixed(2)} s, no-change ${nochange.seconds.toFixed(2)} s, restore ${restore.seconds.toFixed(2)} s`,
    )
    return { first: first.seconds, nochange: nochange.seconds, restore: restore.seconds }
  } finally {
    fs.rmSync(base, { recursive: true, force: true })
  }
}

const tools = [restic, ...(plakarCli() ? [plakar({ backend: 'fs' })] : [])].filter((t) => {
  if (t.version()) return true
  console.error(`${t.name}: not available (${t.installHint}), left out`)
  return false
})
// The tools alternate, run by run, first one then the other: this machine's speed drifts.
const times = new Map<Tool, Times[]>(tools.map((t) => [t, []]))
for (let i = 0; i < runs; i++) {
  const order = i % 2 === 0 ? tools : [...tools].reverse()
  for (const t of order) times.get(t)!.push(await runTool(t, i))
}
const medians = (t: Tool | undefined): Times | undefined => {
  const xs = t === undefined ? undefined : times.get(t)
  if (xs === undefined) return undefined
  return {
    first: median(xs.map((x) => x.first)),
    nochange: median(xs.map((x) => x.nochange)),
    restore: median(xs.map((x) => x.restore)),
  }
}
const r = medians(tools.find((t) => t.name === 'restic'))
const p = medians(tools.find((t) => t.name === 'plakar'))

// ---- The report ----
const backupCpu = walk + read + chunking + hmac + zstd + seal + writePacks + kdf
const restoreCpu = readPacks + open + unzstd + check + create + kdf
// The KDF is one thread's work (scrypt p=1): the rest can overlap it, not split it.
const spread = (sum: number) => startup + Math.max(kdf, sum / cores)
const floor = {
  first: spread(backupCpu),
  nochange: spread(walk + kdf),
  restore: spread(restoreCpu),
}
const mb = (s: number) => (bytes / 1e6 / s).toFixed(0)
const rows: [string, string][] = [
  ['walk + lstat', walk.toFixed(2)],
  ['open + read + close', read.toFixed(2)],
  ['FastCDC', chunking.toFixed(2)],
  ['HMAC-SHA256 ids (every chunk)', hmac.toFixed(2)],
  ['HMAC-SHA256 check (each distinct blob)', check.toFixed(2)],
  [`zstd ${ZSTD_LEVEL} (${((stored / bytes) * 100).toFixed(1)}% of the tree)`, zstd.toFixed(2)],
  ['AES-256-GCM seal', seal.toFixed(2)],
  ['write the packs (tmpfs)', writePacks.toFixed(2)],
  ['read the packs (tmpfs)', readPacks.toFixed(2)],
  ['AES-256-GCM open', open.toFixed(2)],
  ['zstd decompress', unzstd.toFixed(2)],
  ['create the files (tmpfs)', create.toFixed(2)],
  ['scrypt (the passphrase)', kdf.toFixed(2)],
  ['node start-up (wall)', startup.toFixed(2)],
]
console.log(
  `\n## Floor on this machine (${files.length} files, ${(bytes / 1e6).toFixed(0)} MB, warm, ${cores} cores)\n`,
)
console.log('| operation, over the whole tree | CPU s |\n|---|---:|')
for (const [k, v] of rows) console.log(`| ${k} | ${v} |`)
console.log(
  `\nfloor = start-up + max(scrypt, sum of the step's operations / ${cores} cores). Not counted: ` +
    'listing and restoring extended attributes, owners, the index and the snapshot tree.\n',
)
console.log('| step | floor s | restic s | plakar s | target | target s | floor within target |')
console.log('|---|---:|---:|---:|---|---:|---|')
const line = (step: string, f: number, key: keyof Times, target: string, t: number | undefined) =>
  console.log(
    `| ${step} | ${f.toFixed(2)} | ${r ? r[key].toFixed(2) : '-'} | ${p ? p[key].toFixed(2) : '-'} | ${target} | ${t === undefined ? '-' : t.toFixed(2)} | ${t === undefined ? '-' : f <= t ? 'yes' : 'NO'} |`,
  )
line('first backup', floor.first, 'first', '≥ 3× restic MB/s', r && r.first / 3)
line('no-change backup', floor.nochange, 'nochange', '≤ 0.25× restic time', r && r.nochange / 4)
line('restore', floor.restore, 'restore', '≥ 2× restic MB/s', r && r.restore / 2)
console.log(`\nfloor throughput: first backup ${mb(floor.first)} MB/s, restore ${mb(floor.restore)} MB/s`)
