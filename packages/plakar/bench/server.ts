/**
 * plakar's remote backends, plakar:// over loopback and postgres://, against a local
 * repository and against restic's REST protocol, side by side in one run, on the tree/
 * part of corpus.ts's corpus:
 *
 *   local     plakar on fs:///...            push, then pull into a tmpfs
 *   plakar:// plakar on plakar://127.0.0.1   push, then pull, through `plakar server` (fs)
 *   postgres  plakar on postgres://...       push, then pull, into a schema of the machine's
 *             PostgreSQL (--postgres URL; its own buffers are not dropped, only the page cache)
 *   rest      restic -r rest:http://127.0.0.1 backup, then restore, through
 *             `rclone serve restic --append-only` (plain HTTP, restic's REST server)
 *
 * Each run gives each setup a fresh repository (and server); the page cache is dropped
 * before every timed step. Setups alternate their order from run to run. Client wall time,
 * CPU and peak RSS come from GNU time; a server's peak RSS is the sum of VmHWM over its
 * processes (for plakar: parent, listener, sessions, storage), read just before it stops.
 *
 *   pnpm bench:server [--scale 1] [--runs 3] [--work DIR] [--seed 1] [--postgres URL]
 *
 * Needs root (drop caches; the server's jails), restic, rclone and GNU time
 * (apt-get install -y restic rclone time), and a built plakar.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { backendBenchOptions } from './args.js'
import { benchCorpus } from './corpus.js'
import { dropCaches, type Measurement, measure, treeBytes } from './measure.js'
import { median, ratioCells, tableHead } from './report.js'

const SETUPS = ['local', 'plakar://', 'postgres', 'rest'] as const
type Setup = (typeof SETUPS)[number]
const TOKEN = 'bench-token-0123456789abcdef'
const PASSPHRASE = 'bench-passphrase'

interface Sample {
  readonly setup: Setup
  readonly run: number
  push?: Measurement
  pull?: Measurement
  /** Sum of the server processes' peak RSS, bytes. */
  serverRss?: number
}

const { scale, runs, seed, postgres, work, cli, fail, dropSchema } = backendBenchOptions('bench:server', [
  'restic',
  'rclone',
])
if (process.getuid?.() !== 0) fail('run as root: it drops the page cache and the server jails its processes')

const corpus = benchCorpus(work, seed, scale)
const tree = path.join(corpus.root, 'tree')
const bytes = treeBytes(tree)
// The server's jail must be a root-owned directory nothing else may write, all the way up.
const jails = '/var/lib/plakar-bench'
const logs = path.join(work, 'server-logs')
fs.mkdirSync(logs, { recursive: true })

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = s.address() as net.AddressInfo
      s.close(() => resolve(port))
    })
  })
}

async function waitPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited: ${log()}`)
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port })
      s.once('connect', () => {
        s.destroy()
        resolve(true)
      })
      s.once('error', () => resolve(false))
    })
    if (up) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`server not listening on ${port}: ${log()}`)
}

function treePids(root: number): number[] {
  const out = [root]
  try {
    const kids = fs
      .readFileSync(`/proc/${root}/task/${root}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
    for (const k of kids) out.push(...treePids(Number(k)))
  } catch {
    // gone
  }
  return out
}

function peakRss(root: number): number {
  let total = 0
  for (const pid of treePids(root)) {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
      if (m) total += Number(m[1]) * 1024
    } catch {
      // gone
    }
  }
  return total
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGTERM')
  await exited
}

function startDaemon(cmd: string, args: string[], env: Record<string, string>, name: string) {
  const log = path.join(logs, `${name}.log`)
  const out = fs.openSync(log, 'w')
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', out, out] })
  fs.closeSync(out)
  return { child, log: () => fs.readFileSync(log, 'utf8') }
}

async function runSetup(setup: Setup, run: number): Promise<Sample> {
  const sample: Sample = { setup, run }
  const dir = path.join(setup === 'plakar://' ? jails : work, 'server-runs', setup.replace(/\W/g, ''))
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 })
  if (setup === 'plakar://') for (let d = dir; d !== '/'; d = path.dirname(d)) fs.chmodSync(d, 0o755)
  const home = path.join(work, 'server-home', setup.replace(/\W/g, ''))
  fs.rmSync(home, { recursive: true, force: true })
  fs.mkdirSync(home, { recursive: true })
  const target = fs.mkdtempSync('/dev/shm/plakar-bench-server-')
  const plakarEnv = {
    PLAKAR_PASSPHRASE: PASSPHRASE,
    PLAKAR_TOKEN: TOKEN,
    HOME: home,
    XDG_CACHE_HOME: path.join(home, 'cache'),
  }
  const resticEnv = { RESTIC_PASSWORD: PASSPHRASE, RESTIC_CACHE_DIR: path.join(home, 'cache'), HOME: home }
  const logOf = (step: string) => path.join(logs, `run${run}-${setup.replace(/\W/g, '')}-${step}.log`)
  let server: ReturnType<typeof startDaemon> | undefined
  try {
    let location = `fs://${path.join(dir, 'repo')}`
    const schema = `plakar_bench_${process.pid}_${run}`
    if (setup === 'postgres') {
      location = `${postgres}?schema=${schema}`
      dropSchema(schema)
    }
    if (setup === 'plakar://') {
      const port = await freePort()
      server = startDaemon(
        process.execPath,
        [cli, 'on', location, 'server', '-listen', `127.0.0.1:${port}`],
        { PLAKAR_TOKEN: TOKEN },
        `run${run}-plakar-server`,
      )
      await waitPort(port, server.child, server.log)
      location = `plakar://127.0.0.1:${port}`
    }
    if (setup === 'rest') {
      const port = await freePort()
      server = startDaemon(
        'rclone',
        ['serve', 'restic', '--addr', `127.0.0.1:${port}`, '--append-only', path.join(dir, 'repo')],
        {},
        `run${run}-rclone`,
      )
      await waitPort(port, server.child, server.log)
      const repo = `rest:http://127.0.0.1:${port}/`
      await measure({ cmd: 'restic', args: ['-r', repo, 'init'], env: resticEnv }, logOf('init'))
      dropCaches()
      sample.push = await measure(
        { cmd: 'restic', args: ['-r', repo, 'backup', '--host', 'bench', tree], env: resticEnv },
        logOf('push'),
      )
      dropCaches()
      sample.pull = await measure(
        { cmd: 'restic', args: ['-r', repo, 'restore', 'latest', '--target', target], env: resticEnv },
        logOf('pull'),
      )
    } else {
      await measure(
        { cmd: process.execPath, args: [cli, 'on', location, 'create'], env: plakarEnv },
        logOf('init'),
      )
      dropCaches()
      sample.push = await measure(
        { cmd: process.execPath, args: [cli, 'on', location, 'push', tree], env: plakarEnv },
        logOf('push'),
      )
      dropCaches()
      sample.pull = await measure(
        {
          cmd: process.execPath,
          args: [cli, 'on', location, 'pull', '-path', target, 'latest'],
          env: plakarEnv,
        },
        logOf('pull'),
      )
    }
    if (server) sample.serverRss = peakRss(server.child.pid!)
    console.error(
      `run ${run} ${setup}: push ${sample.push.seconds.toFixed(2)} s, pull ${sample.pull.seconds.toFixed(2)} s` +
        (sample.serverRss ? `, server peak RSS ${(sample.serverRss / 1e6).toFixed(0)} MB` : ''),
    )
  } finally {
    if (setup === 'postgres') dropSchema(`plakar_bench_${process.pid}_${run}`)
    if (server) await stop(server.child)
    fs.rmSync(target, { recursive: true, force: true })
    fs.rmSync(dir, { recursive: true, force: true })
  }
  return sample
}

const samples: Sample[] = []
for (let run = 1; run <= runs; run++) {
  // Each setup takes each position in turn: a first position's cold disk is nobody's alone.
  const order = SETUPS.map((_, i) => SETUPS[(i + run - 1) % SETUPS.length]!)
  for (const setup of order) samples.push(await runSetup(setup, run))
}

const MB = 1e6
const of = (setup: Setup) => samples.filter((s) => s.setup === setup && s.push && s.pull)
const med = (setup: Setup, f: (s: Sample) => number) => median(of(setup).map(f))
const pushRate = (s: Sample) => bytes / s.push!.seconds / MB
const pullRate = (s: Sample) => bytes / s.pull!.seconds / MB
const rows: [string, (s: Sample) => number, number][] = [
  ['push, MB/s', pushRate, 1],
  ['pull, MB/s', pullRate, 1],
  ['push, client CPU s', (s) => s.push!.userSeconds + s.push!.systemSeconds, 1],
  ['push, client peak RSS MB', (s) => s.push!.maxRss / MB, 0],
  ['pull, client peak RSS MB', (s) => s.pull!.maxRss / MB, 0],
  ['server processes, peak RSS MB (sum)', (s) => (s.serverRss ?? Number.NaN) / MB, 0],
]
const lines = [
  `# plakar:// over loopback: ${(bytes / MB).toFixed(0)} MB tree (scale ${scale}, seed ${seed}), ${runs} runs, medians`,
  '',
  ...tableHead([
    '',
    'local fs',
    'plakar://',
    'postgres',
    'restic REST (rclone)',
    'plakar:// / local',
    'postgres / local',
    'plakar:// / restic',
  ]),
]
for (const [label, f, digits] of rows) {
  const l = med('local', f)
  const p = med('plakar://', f)
  const g = med('postgres', f)
  const r = med('rest', f)
  const cell = (v: number) => (Number.isFinite(v) ? v.toFixed(digits) : '-')
  lines.push(
    `| ${label} | ${cell(l)} | ${cell(p)} | ${cell(g)} | ${cell(r)} | ${(p / l).toFixed(2)} | ${(g / l).toFixed(2)} | ${(p / r).toFixed(2)} |`,
  )
}
const pushLocal = med('plakar://', pushRate) / med('local', pushRate)
const pullLocal = med('plakar://', pullRate) / med('local', pullRate)
const pushRest = med('plakar://', pushRate) / med('rest', pushRate)
lines.push(
  '',
  ...tableHead(['target', 'ratio', 'target', 'met']),
  `| plakar:// push vs local | ${ratioCells(pushLocal, { ratio: 0.85, higherIsBetter: true }).join(' | ')} |`,
  `| plakar:// pull vs local | ${ratioCells(pullLocal, { ratio: 0.85, higherIsBetter: true }).join(' | ')} |`,
  `| plakar:// push vs restic REST | ${ratioCells(pushRest, { ratio: 1.5, higherIsBetter: true }).join(' | ')} |`,
  `| postgres push vs local | ${ratioCells(med('postgres', pushRate) / med('local', pushRate), { ratio: 0.7, higherIsBetter: true }).join(' | ')} |`,
  `| postgres pull vs local | ${ratioCells(med('postgres', pullRate) / med('local', pullRate), { ratio: 0.7, higherIsBetter: true }).join(' | ')} |`,
)
const report = lines.join('\n')
console.log(report)
const file = path.join(work, `server-report-${new Date().toISOString().replace(/[:.]/g, '-')}.md`)
fs.writeFileSync(file, `${report}\n`)
console.error(`report saved in ${file}; logs in ${logs}`)
