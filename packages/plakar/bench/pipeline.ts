/**
 * Throughput of the repository write pipeline (read + FastCDC + HMAC-SHA256 + zstd +
 * AES-256-GCM + packing) on worker threads, against two baselines run side by side: reading
 * the same files (sync open/read/close, the floor any backup pays) and the same pipeline on
 * one worker. Packs go to a memory:// store so the figure is the pipeline's, not the disk's.
 *
 * Usage (from packages/plakar):
 *   node --import tsx bench/pipeline.ts [--dir /tmp/plakar-bench-pipeline] [--scale 0.25] [--runs 3]
 * Datasets: the small-file tree and the big files of the benchmark corpus (bench/corpus.ts),
 * and 256 MiB of random (incompressible) data. Prints medians in MB/s.
 */
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { Repository } from '../src/repository/index.js'
import { openStore } from '../src/storage/index.js'
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
  const writer = repo.writer({ cpus })
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

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string', default: '/tmp/plakar-bench-pipeline' },
      scale: { type: 'string', default: '0.25' },
      runs: { type: 'string', default: '3' },
    },
  })
  const runs = Number(values.runs)
  const t0 = performance.now()
  const corpus = ensureCorpus(path.join(values.dir, 'corpus'), 1, Number(values.scale))
  const sets: [string, Entry[]][] = [
    ['tree (small files)', walk(path.join(corpus.root, 'tree'))],
    ['big files', walk(path.join(corpus.root, 'big'))],
    ['random', randomSet(path.join(values.dir, 'random'))],
  ]
  console.log(`datasets ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  console.log(
    '| dataset | files | MB | read only MB/s | 1 worker MB/s | 2 workers MB/s | 2w / 1w | stored % |',
  )
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|')
  for (const [name, files] of sets) {
    const bytes = files.reduce((a, f) => a + f.size, 0)
    readAll(files) // warm the page cache
    const read: number[] = []
    const one: number[] = []
    const two: number[] = []
    let stored = 0
    for (let r = 0; r < runs; r++) {
      let t = performance.now()
      readAll(files)
      read.push(bytes / 1e3 / (performance.now() - t))
      t = performance.now()
      await pipeline(files, 1, r)
      one.push(bytes / 1e3 / (performance.now() - t))
      t = performance.now()
      stored = (await pipeline(files, 2, r)).stored
      two.push(bytes / 1e3 / (performance.now() - t))
    }
    const [mr, m1, m2] = [median(read), median(one), median(two)]
    console.log(
      `| ${name} | ${files.length} | ${(bytes / 1e6).toFixed(0)} | ${mr.toFixed(0)} | ${m1.toFixed(0)} | ${m2.toFixed(0)} | ${(m2 / m1).toFixed(2)} | ${((100 * stored) / bytes).toFixed(1)} |`,
    )
  }
}

await main()
