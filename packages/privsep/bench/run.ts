/**
 * `pnpm bench`: how fast the seven-process smtpd example becomes ready, and the round trip
 * of a query between two of its children (dispatcher -> lookup), side by side with
 * baselines run interleaved in the same session on the same machine:
 *
 * - ready: six bare `node` processes spawned at once until each has written one byte
 *   (Node's own start-up, the floor for any design that re-executes Node);
 * - CPU time until ready, summed over the processes: independent of other load on the
 *   machine, unlike wall time;
 * - round trip: a Node child_process IPC (json) ping-pong between a parent and a child.
 *
 * Needs root (the example changes users and chroots). Targets: ready < 1 s, median round
 * trip < 100 µs.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import os from 'node:os'
import { bundled } from '../test/helpers/bundle.js'
import { ensureSmtpdSystem } from '../test/helpers/system.js'

const RUNS = Number(process.env.BENCH_RUNS ?? 7)
const QUERIES = Number(process.env.BENCH_QUERIES ?? 20_000)

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!
}
const median = (xs: number[]) => quantile(xs, 0.5)

/** The child's stdout once it exited with status 0; its stderr in the error otherwise. */
function output(child: ChildProcess): Promise<string> {
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d
  })
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d
  })
  return new Promise((resolve, reject) =>
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`exit status ${code}:\n${err}`)),
    ),
  )
}

interface DaemonRun {
  readonly readyMs: number
  readonly readyCpuMs: number
  readonly medianUs: number
  readonly p99Us: number
}

async function privsepRun(script: string): Promise<DaemonRun> {
  const child = spawn(process.execPath, [script, `--bench=${QUERIES}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const line = (await output(child)).split('\n').find((l) => l.startsWith('{'))
  if (line === undefined) throw new Error('the daemon printed no benchmark line')
  const { readyMs, readyCpuMs, rtt } = JSON.parse(line)
  return { readyMs, readyCpuMs, medianUs: rtt.medianUs, p99Us: rtt.p99Us }
}

/** Six bare Node processes spawned at once, until each has said it is up (with its CPU time). */
async function bareNodesReady(): Promise<{ ms: number; cpuMs: number }> {
  const t0 = performance.now()
  const report = 'const u = process.cpuUsage(); process.stdout.write(String((u.user + u.system) / 1000))'
  const cpu = await Promise.all(
    Array.from({ length: 6 }, () => {
      const child = spawn(process.execPath, ['-e', report], { stdio: ['ignore', 'pipe', 'ignore'] })
      return new Promise<number>((resolve) => child.stdout!.once('data', (d) => resolve(Number(String(d)))))
    }),
  )
  return { ms: performance.now() - t0, cpuMs: cpu.reduce((a, b) => a + b, 0) }
}

/** Round trips of Node's own IPC channel (json), parent <-> child. */
async function nodeIpcRtts(n: number): Promise<number[]> {
  const child = spawn(process.execPath, ['-e', 'process.on("message", (m) => process.send(m))'], {
    serialization: 'json',
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
  })
  const rtts: number[] = []
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint()
    await new Promise<void>((resolve) => {
      child.once('message', () => resolve())
      child.send({ q: 'postmaster' })
    })
    rtts.push(Number(process.hrtime.bigint() - start) / 1000)
  }
  child.kill()
  return rtts
}

async function main(): Promise<void> {
  if (process.geteuid?.() !== 0) {
    console.error('bench: needs root (the smtpd example drops to _smtpd/_smtpq and chroots)')
    process.exit(1)
  }
  ensureSmtpdSystem()
  const script = await bundled('smtpd')
  const load = os.loadavg()
  const runs: DaemonRun[] = []
  const bare: { ms: number; cpuMs: number }[] = []
  for (let i = 0; i < RUNS; i++) {
    // Interleaved, so both sides see the same machine.
    bare.push(await bareNodesReady())
    runs.push(await privsepRun(script))
  }
  const ipc = await nodeIpcRtts(QUERIES)

  const f = (x: number) => x.toFixed(1)
  const row = (what: string, ours: number, base: number, baseWhat: string, target: string) =>
    console.log(
      `| ${what} | ${f(ours)} | ${f(base)} (${baseWhat}) | ${(ours / base).toFixed(2)}x | ${target} |`,
    )
  console.log(`privsep bench: ${RUNS} runs of the seven-process smtpd example, ${QUERIES} queries each`)
  console.log(
    `machine: ${os.cpus().length} CPUs, load average at start ${load.map((l) => l.toFixed(1)).join(' ')}`,
  )
  console.log('')
  console.log('| measure (median of runs) | privsep | baseline | ratio | target |')
  console.log('|---|---:|---:|---:|---|')
  row(
    'start() -> all 6 children ready (ms)',
    median(runs.map((r) => r.readyMs)),
    median(bare.map((b) => b.ms)),
    '6 bare node processes up',
    '< 1000 ms',
  )
  row(
    `start() -> ready, slowest of ${RUNS} runs (ms)`,
    Math.max(...runs.map((r) => r.readyMs)),
    Math.max(...bare.map((b) => b.ms)),
    'slowest bare run',
    '',
  )
  row(
    'CPU time until ready, all processes (ms)',
    median(runs.map((r) => r.readyCpuMs)),
    median(bare.map((b) => b.cpuMs)),
    '6 bare node processes',
    '',
  )
  row(
    'query round trip dispatcher -> lookup, median (µs)',
    median(runs.map((r) => r.medianUs)),
    quantile(ipc, 0.5),
    'Node IPC json ping-pong',
    '< 100 µs',
  )
  row(
    'query round trip, p99 (µs)',
    median(runs.map((r) => r.p99Us)),
    quantile(ipc, 0.99),
    'Node IPC json ping-pong',
    '',
  )
  console.log('')
  console.log(`ready per run (ms): ${runs.map((r) => f(r.readyMs)).join(', ')}`)
  console.log(`bare node per run (ms): ${bare.map((b) => f(b.ms)).join(', ')}`)
  console.log(`round-trip medians per run (µs): ${runs.map((r) => f(r.medianUs)).join(', ')}`)
}

await main()
