/**
 * Throughput of the repository write pipeline (read + FastCDC + HMAC-SHA256 + zstd +
 * AES-256-GCM + packing) on worker threads, against two baselines run side by side: reading
 * the same files (sync open/read/close, the floor any backup pays) and the same pipeline on
 * one worker; also the CPU time per MB (all threads), which a busy machine distorts less than
 * wall time. Packs go to a memory:// store so the figure is the pipeline's, not the disk's.
 *
 * Usage (from packages/plakar):
 *   node --import tsx bench/pipeline.ts [--dir /tmp/plakar-bench-pipeline] [--scale 0.25] [--runs 3]
 * Datasets: the small-file tree and the big files of the benchmark corpus (bench/corpus.ts),
 * and 256 MiB of random (incompressible) data. Prints medians in MB/s.
 *
 * With --chunking: compares chunker parameters instead, on the corpus's big files (small files
 * are one chunk whatever the parameters): chunks, bytes the modified variant adds over the
 * original (lower is better dedup), and chunking speed.
 */
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import { loadavg } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { chunkerFor, FASTCDC_NAME } from '../src/chunking/index.js'
import * as sources from '../src/index.js'
import { FILE_SOURCE } from '../src/snapshot/index.js'
import { ensureCorpus } from './corpus.js'

interface Entry {
  readonly path: string
  readonly size: number
}

function walk(dir: string, out: Entry[] = []): Entry[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) walk(p, out)
    else if (e.isFile()) out.push({ path: p, size: fs.statSync(p).size })
  }
  return out
}

function randomSet(dir: string): Entry[] {
  fs.mkdirSync(dir, { recursive: true })
  const out: Entry[] = []
  for (let i = 0; i < 8; i++) {
    const p = path.join(dir, `random-${i}.bin`)
    if (!fs.existsSync(p) || fs.statSync(p).size !== 32 << 20) fs.writeFileSync(p, randomBytes(32 << 20))
    out.push({ path: p, size: 32 << 20 })
  }
  return out
}

function readAll(files: readonly Entry[]): number {
  const buf = Buffer.allocUnsafe(1 << 20)
  let total = 0
  for (const f of files) {
    const fd = fs.openSync(f.path, 'r')
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null)
      if (n === 0) break
      total += n
    }
    fs.closeSync(fd)
  }
  return total
}

async function pipeline(files: readonly Entry[], cpus: number, run: number): Promise<{ stored: number }> {
  const store = openStore(`memory://bench-pipeline-${process.pid}-${cpus}-${run}-${files.length}`)
  const repo = await Repository.create(store, {
    passphrase: Buffer.from('bench'),
    compression: true,
    kdf: { N: 1 << 12 },
    cacheDir: null,
  })
  const writer = repo.writer({ cpus, source: FILE_SOURCE })
  const inFlight = new Set<Promise<unknown>>()
  let stored = 0
  for (const f of files) {
    const p = writer.putFile(f).then((r) => {
      stored += r.stored
    })
    const tracked = p.finally(() => inFlight.delete(tracked))
    inFlight.add(tracked)
    if (inFlight.size >= 128) await Promise.race(inFlight)
  }
  await Promise.all(inFlight)
  await writer.close()
  await repo.close()
  await store.close()
  return { stored }
}

function chunkingTable(corpus: ReturnType<typeof ensureCorpus>): void {
  const sets = [
    { min: 128 << 10, avg: 256 << 10, max: 2 << 20 },
    { min: 256 << 10, avg: 512 << 10, max: 4 << 20 },
    { min: 512 << 10, avg: 1 << 20, max: 8 << 20 },
    { min: 1 << 20, avg: 2 << 20, max: 16 << 20 },
  ]
  const chunkIds = (params: (typeof sets)[number], timing: { ms: number; bytes: number }) => {
    const chunker = chunkerFor(FASTCDC_NAME, params)
    const ids = new Map<string, number>()
    for (const f of walk(path.join(corpus.root, 'big'))) {
      const data = fs.readFileSync(f.path)
      const t = performance.now()
      for (let s = 0; s < data.length; ) {
        const n = chunker.cut(data, s, data.length, true)
        ids.set(
          createHash('sha256')
            .update(data.subarray(s, s + n))
            .digest('hex'),
          n,
        )
        s += n
      }
      timing.ms += performance.now() - t
      timing.bytes += data.length
    }
    return ids
  }
  console.log('| min / avg / max (KiB) | chunks | modified adds MB | chunk+SHA-256 MB/s |')
  console.log('|---|---:|---:|---:|')
  for (const params of sets) {
    const timing = { ms: 0, bytes: 0 }
    corpus.setVariant('original')
    const before = chunkIds(params, timing)
    corpus.setVariant('modified')
    const after = chunkIds(params, timing)
    corpus.setVariant('original')
    let added = 0
    for (const [id, n] of after) if (!before.has(id)) added += n
    console.log(
      `| ${params.min >> 10} / ${params.avg >> 10} / ${params.max >> 10} | ${before.size} | ${(added / 1e6).toFixed(1)} | ${(timing.bytes / 1e3 / timing.ms).toFixed(0)} |`,
    )
  }
}

// The built package when there is one (workers load plain JS, as in production); else sources
// (workers then load TypeScript through tsx, which costs CPU at every start).
const built = new URL('../dist/index.js', import.meta.url)
const plakar: typeof sources = fs.existsSync(built) ? await import(built.href) : sources
const { Repository, openStore } = plakar

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string', default: '/tmp/plakar-bench-pipeline' },
      scale: { type: 'string', default: '0.25' },
      runs: { type: 'string', default: '3' },
      chunking: { type: 'boolean', default: false },
    },
  })
  const runs = Number(values.runs)
  const t0 = performance.now()
  const corpus = ensureCorpus(path.join(values.dir, 'corpus'), 1, Number(values.scale))
  if (values.chunking) return chunkingTable(corpus)
  const sets: [string, Entry[]][] = [
    ['tree (small files)', walk(path.join(corpus.root, 'tree'))],
    ['big files', walk(path.join(corpus.root, 'big'))],
    ['random', randomSet(path.join(values.dir, 'random'))],
  ]
  console.log(
    `datasets ready in ${((performance.now() - t0) / 1000).toFixed(1)} s; plakar from ${plakar === sources ? 'src/ (tsx)' : 'dist/'}`,
  )
  console.log(
    '| dataset | files | MB | read only MB/s | 1 worker MB/s | 2 workers MB/s | 2w / 1w | CPU ms/MB (2w, all threads) | stored % |',
  )
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|')
  console.log(`(load average at start: ${loadavg()[0]!.toFixed(1)})`)
  for (const [name, files] of sets) {
    const bytes = files.reduce((a, f) => a + f.size, 0)
    readAll(files) // warm the page cache
    const read: number[] = []
    const one: number[] = []
    const two: number[] = []
    let stored = 0
    const cpu: number[] = []
    for (let r = 0; r < runs; r++) {
      let t = performance.now()
      readAll(files)
      read.push(bytes / 1e3 / (performance.now() - t))
      t = performance.now()
      await pipeline(files, 1, r)
      one.push(bytes / 1e3 / (performance.now() - t))
      t = performance.now()
      const c0 = process.cpuUsage()
      stored = (await pipeline(files, 2, r)).stored
      const c = process.cpuUsage(c0)
      two.push(bytes / 1e3 / (performance.now() - t))
      cpu.push((c.user + c.system) / 1e3 / (bytes / 1e6))
    }
    const [mr, m1, m2] = [median(read), median(one), median(two)]
    console.log(
      `| ${name} | ${files.length} | ${(bytes / 1e6).toFixed(0)} | ${mr.toFixed(0)} | ${m1.toFixed(0)} | ${m2.toFixed(0)} | ${(m2 / m1).toFixed(2)} | ${median(cpu).toFixed(2)} | ${((100 * stored) / bytes).toFixed(1)} |`,
    )
  }
}

await main()
