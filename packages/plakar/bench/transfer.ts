/**
 * plakar clone against restic copy, side by side in one run, on corpus.ts's corpus: each
 * tool first backs up the tree twice (original, then modified variant) into a local
 * repository, untimed; then each run copies the whole repository into a fresh one:
 *
 *   clone fs        plakar on fs:///src clone fs:///dst
 *   clone postgres  plakar on fs:///src clone postgres://... (a schema of --postgres)
 *   restic copy     restic -r dst copy --from-repo src   (dst made with --copy-chunker-params,
 *                   so that it deduplicates as the source does)
 *
 * Throughput is the corpus's bytes (both snapshots' trees, as backed up) per second: the
 * same work for every tool. The page cache is dropped before each timed step; setups
 * alternate their order from run to run.
 *
 * Then sync, against its budget: a peer (another passphrase) holds the original snapshot,
 * and each run syncs the modified one into a fresh copy of that peer. The budget is what a
 * push costs for the same change: a no-change push of the modified tree (the walk) plus a
 * push, into an empty repository, of a directory holding only the modified variant's new
 * and changed files (the new data's transfer: read, sealed, written), less one process
 * start (`plakar version`: the budget is two processes, sync one).
 *
 *   pnpm bench:transfer [--scale 1] [--runs 3] [--work DIR] [--seed 1] [--postgres URL]
 *
 * Needs root (drop caches), restic, psql and GNU time, and a built plakar.
 */
import fs from 'node:fs'
import path from 'node:path'
import { backendBenchOptions } from './args.js'
import { benchCorpus } from './corpus.js'
import { dropCaches, type Measurement, measure, treeBytes } from './measure.js'
import { median, ratioCells, tableHead } from './report.js'
import { snapshotId } from './tools/steps.js'
import type { Tool } from './tools/tool.js'

const SETUPS = ['clone fs', 'clone postgres', 'restic copy'] as const
type Setup = (typeof SETUPS)[number]
const SYNC_STEPS = ['sync', 'no-change push', 'push new data', 'process start'] as const
type SyncStep = (typeof SYNC_STEPS)[number]
const PASSPHRASE = 'bench-passphrase'
const PEER_PASSPHRASE = 'bench-peer-passphrase'

const { scale, runs, seed, postgres, work, cli, dropSchema } = backendBenchOptions('bench:transfer', [
  'restic',
])
const corpus = benchCorpus(work, seed, scale)
const tree = path.join(corpus.root, 'tree')
const base = path.join(work, 'transfer')
const logs = path.join(base, 'logs')
fs.rmSync(base, { recursive: true, force: true })
fs.mkdirSync(logs, { recursive: true })
const home = path.join(base, 'home')
fs.mkdirSync(home)
const plakarEnv = { PLAKAR_PASSPHRASE: PASSPHRASE, HOME: home, XDG_CACHE_HOME: path.join(home, 'cache') }
const resticEnv = {
  RESTIC_PASSWORD: PASSPHRASE,
  RESTIC_FROM_PASSWORD: PASSPHRASE,
  RESTIC_CACHE_DIR: path.join(home, 'restic-cache'),
  HOME: home,
}
const plakarSrc = path.join(base, 'plakar-src')
const resticSrc = path.join(base, 'restic-src')
const log = (name: string) => path.join(logs, `${name}.log`)

// The two source repositories, each with the same two backups.
let bytes = 0
await measure(
  { cmd: process.execPath, args: [cli, 'on', plakarSrc, 'create'], env: plakarEnv },
  log('plakar-create'),
)
await measure({ cmd: 'restic', args: ['-r', resticSrc, 'init'], env: resticEnv }, log('restic-init'))
for (const variant of ['original', 'modified'] as const) {
  corpus.setVariant(variant)
  bytes += treeBytes(tree)
  await measure(
    { cmd: process.execPath, args: [cli, 'on', plakarSrc, 'push', tree], env: plakarEnv },
    log(`push-${variant}`),
  )
  await measure(
    { cmd: 'restic', args: ['-r', resticSrc, 'backup', '--host', 'bench', tree], env: resticEnv },
    log(`backup-${variant}`),
  )
}
corpus.setVariant('original')
console.error(
  `sources ready: plakar ${(treeBytes(plakarSrc) / 1e6).toFixed(0)} MB, restic ${(treeBytes(resticSrc) / 1e6).toFixed(0)} MB`,
)

interface Sample {
  readonly setup: Setup
  readonly m: Measurement
}
const samples: Sample[] = []

async function runSetup(setup: Setup, run: number): Promise<void> {
  const name = `run${run}-${setup.replace(/\W/g, '')}`
  const dst = path.join(base, 'dst')
  const schema = `plakar_bench_transfer_${process.pid}`
  fs.rmSync(dst, { recursive: true, force: true })
  try {
    let m: Measurement
    if (setup === 'restic copy') {
      await measure(
        {
          cmd: 'restic',
          args: ['-r', dst, 'init', '--from-repo', resticSrc, '--copy-chunker-params'],
          env: resticEnv,
        },
        log(`${name}-init`),
      )
      dropCaches()
      m = await measure(
        { cmd: 'restic', args: ['-r', dst, 'copy', '--from-repo', resticSrc], env: resticEnv },
        log(name),
      )
    } else {
      const to = setup === 'clone fs' ? dst : `${postgres}?schema=${schema}`
      if (setup === 'clone postgres') dropSchema(schema)
      dropCaches()
      m = await measure(
        { cmd: process.execPath, args: [cli, 'on', plakarSrc, 'clone', to], env: plakarEnv },
        log(name),
      )
    }
    samples.push({ setup, m })
    console.error(
      `run ${run} ${setup}: ${m.seconds.toFixed(2)} s, peak RSS ${(m.maxRss / 1e6).toFixed(0)} MB`,
    )
  } finally {
    fs.rmSync(dst, { recursive: true, force: true })
    if (setup === 'clone postgres') dropSchema(schema)
  }
}

for (let run = 1; run <= runs; run++) {
  const order = SETUPS.map((_, i) => SETUPS[(i + run - 1) % SETUPS.length]!)
  for (const setup of order) await runSetup(setup, run)
}

const MB = 1e6
const med = (setup: Setup, f: (m: Measurement) => number) =>
  median(samples.filter((s) => s.setup === setup).map((s) => f(s.m)))
const rate = (m: Measurement) => bytes / m.seconds / MB
const lines = [
  `# clone vs restic copy: two snapshots of ${(bytes / 2 / MB).toFixed(0)} MB (scale ${scale}, seed ${seed}), ${runs} runs, medians`,
  '',
  ...tableHead(['', ...SETUPS, 'clone fs / restic']),
]
for (const [label, f, digits] of [
  ['MB/s (snapshot bytes)', rate, 1],
  ['seconds', (m: Measurement) => m.seconds, 2],
  ['CPU seconds', (m: Measurement) => m.userSeconds + m.systemSeconds, 1],
  ['peak RSS MB', (m: Measurement) => m.maxRss / MB, 0],
] as const) {
  const cells = SETUPS.map((s) => med(s, f).toFixed(digits))
  lines.push(
    `| ${label} | ${cells.join(' | ')} | ${(med('clone fs', f) / med('restic copy', f)).toFixed(2)} |`,
  )
}
const ratio = med('clone fs', rate) / med('restic copy', rate)
lines.push(
  '',
  ...tableHead(['target', 'ratio', 'target', 'met']),
  `| clone vs restic copy, throughput | ${ratioCells(ratio, { ratio: 2, higherIsBetter: true }).join(' | ')} |`,
)
lines.push('', ...(await syncSection()))
const report = lines.join('\n')
console.log(report)
const file = path.join(work, `transfer-report-${new Date().toISOString().replace(/[:.]/g, '-')}.md`)
fs.writeFileSync(file, `${report}\n`)
fs.rmSync(base, { recursive: true, force: true })
console.error(`report saved in ${file}`)

/** The sync runs, and their table against the budget (see the header). */
async function syncSection(): Promise<string[]> {
  const plakarTool = { name: 'plakar' } as Tool
  const original = snapshotId(plakarTool, log('push-original'))
  const modified = snapshotId(plakarTool, log('push-modified'))
  const peerEnv = { ...plakarEnv, PLAKAR_PEER_PASSPHRASE: PEER_PASSPHRASE }
  const asPeer = { ...plakarEnv, PLAKAR_PASSPHRASE: PEER_PASSPHRASE }
  const peerBase = path.join(base, 'peer')
  await measure(
    { cmd: process.execPath, args: [cli, 'on', peerBase, 'create'], env: asPeer },
    log('peer-create'),
  )
  await measure(
    { cmd: process.execPath, args: [cli, 'on', plakarSrc, 'sync', original, 'to', peerBase], env: peerEnv },
    log('peer-sync-original'),
  )
  // The modified variant's new and changed small files, alone in a directory of their own.
  corpus.setVariant('modified')
  const newData = path.join(base, 'new-data')
  let newBytes = 0
  for (const f of [...corpus.modification.changed.map((c) => c.base), ...corpus.modification.added]) {
    if (!f.path.startsWith('tree/')) continue
    const to = path.join(newData, f.path)
    fs.mkdirSync(path.dirname(to), { recursive: true })
    fs.copyFileSync(path.join(corpus.root, f.path), to)
    newBytes += fs.statSync(to).size
  }
  // Untimed: the switch to the modified variant rewrote files, so the first push is not a
  // no-change one.
  await measure(
    { cmd: process.execPath, args: [cli, 'on', plakarSrc, 'push', tree], env: plakarEnv },
    log('push-modified-again'),
  )
  const steps: { step: SyncStep; m: Measurement }[] = []
  for (let run = 1; run <= runs; run++) {
    const order = SYNC_STEPS.map((_, i) => SYNC_STEPS[(i + run - 1) % SYNC_STEPS.length]!)
    for (const step of order) {
      const name = `run${run}-${step.replace(/\W/g, '')}`
      // Each run's peer (and empty repository) at a new location: a cache of its own.
      const dst = path.join(base, `${name}-dst`)
      let cmd: { args: string[]; env: Record<string, string> }
      if (step === 'sync') {
        fs.cpSync(peerBase, dst, { recursive: true })
        cmd = { args: ['on', plakarSrc, 'sync', modified, 'to', dst], env: peerEnv }
      } else if (step === 'no-change push') {
        cmd = { args: ['on', plakarSrc, 'push', tree], env: plakarEnv }
      } else if (step === 'process start') {
        cmd = { args: ['version'], env: plakarEnv }
      } else {
        await measure(
          { cmd: process.execPath, args: [cli, 'on', dst, 'create'], env: asPeer },
          log(`${name}-create`),
        )
        cmd = { args: ['on', dst, 'push', newData], env: asPeer }
      }
      dropCaches()
      const m = await measure({ cmd: process.execPath, args: [cli, ...cmd.args], env: cmd.env }, log(name))
      fs.rmSync(dst, { recursive: true, force: true })
      steps.push({ step, m })
      console.error(
        `run ${run} ${step}: ${m.seconds.toFixed(2)} s, peak RSS ${(m.maxRss / 1e6).toFixed(0)} MB`,
      )
    }
  }
  corpus.setVariant('original')
  const med = (step: SyncStep, f: (m: Measurement) => number) =>
    median(steps.filter((s) => s.step === step).map((s) => f(s.m)))
  const seconds = (m: Measurement) => m.seconds
  const budget =
    med('no-change push', seconds) + med('push new data', seconds) - med('process start', seconds)
  const ratio = med('sync', seconds) / budget
  const out = [
    `# sync of one new snapshot (${(newBytes / MB).toFixed(1)} MB new or changed) into a peer holding the previous one, ${runs} runs, medians`,
    '',
    ...tableHead(['', ...SYNC_STEPS, 'budget (no-change + new data - start)']),
    `| seconds | ${SYNC_STEPS.map((s) => med(s, seconds).toFixed(2)).join(' | ')} | ${budget.toFixed(2)} |`,
    `| peak RSS MB | ${SYNC_STEPS.map((s) => med(s, (m) => m.maxRss / MB).toFixed(0)).join(' | ')} | |`,
    '',
    ...tableHead(['target', 'ratio', 'target', 'met']),
    `| sync time / budget | ${ratioCells(ratio, { ratio: 1, higherIsBetter: false }).join(' | ')} |`,
  ]
  fs.rmSync(newData, { recursive: true, force: true })
  return out
}
