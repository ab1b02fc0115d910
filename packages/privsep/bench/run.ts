/**
 * `pnpm bench`: how fast the seven-process smtpd example becomes ready, and the round trip
 * of a query between two of its children (dispatcher -> lookup), side by side with
 * baselines run in the same session on the same machine:
 *
 * - ready: six bare `node` processes spawned at once until each has written one byte
 *   (Node's own start-up cost, the floor for any re-executing design);
 * - round trip: a Node child_process IPC (json) ping-pong between a parent and a child.
 *
 * Needs root (the example changes users and chroots). Targets: ready < 1 s, median round
 * trip < 100 µs.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { bundled } from '../test/helpers/bundle.js'
import { ensureSmtpdSystem } from '../test/helpers/system.js'

const RUNS = Number(process.env.BENCH_RUNS ?? 7)
const QUERIES = Number(process.env.BENCH_QUERIES ?? 20_000)

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!
}

function output(child: ChildProcess): Promise<string> {
  let out = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d
  })
  return new Promise((resolve, reject) =>
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`exit status ${code}: ${out}`)),
    ),
  )
}

async function privsepRun(script: string): Promise<{ readyMs: number; medianUs: number; p99Us: number }> {
  const child = spawn(process.execPath, [script, `--bench=${QUERIES}`], {
    stdio: ['ignore', 'pipe', 'ignore'],
  })
  const line = (await output(child)).split('\n').find((l) => l.startsWith('{'))
  if (line === undefined) throw new Error('the daemon printed no benchmark line')
  const { readyMs, rtt } = JSON.parse(line)
  return { readyMs, medianUs: rtt.medianUs, p99Us: rtt.p99Us }
}

/** Six bare Node processes spawned at once, until each has said it is up. */
async function bareNodesReady(): Promise<number> {
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: 6 }, () => {
      const child = spawn(process.execPath, ['-e', 'process.stdout.write("r")'], {
        stdio: ['ignore', 'pipe', 'ignore'],
      })
      return new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()))
    }),
  )
  return performance.now() - t0
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
  const ready: number[] = []
  const bareReady: number[] = []
  const medians: number[] = []
  const p99s: number[] = []
  for (let i = 0; i < RUNS; i++) {
    // Interleaved, so both sides see the same machine load.
    bareReady.push(await bareNodesReady())
    const run = await privsepRun(script)
    ready.push(run.readyMs)
    medians.push(run.medianUs)
    p99s.push(run.p99Us)
  }
  const ipc = await nodeIpcRtts(QUERIES)
  const ipcMedian = quantile(ipc, 0.5)
  const ipcP99 = quantile(ipc, 0.99)

  const f = (x: number) => x.toFixed(1)
  console.log(`privsep bench: ${RUNS} runs of the seven-process smtpd example, ${QUERIES} queries each`)
  console.log('')
  console.log('| measure | privsep | baseline | ratio | target |')
  console.log('|---|---:|---:|---:|---|')
  console.log(
    `| start() -> all 6 children ready, median (ms) | ${f(median(ready))} | ${f(median(bareReady))} (6 bare node processes up) | ${(median(ready) / median(bareReady)).toFixed(2)}x | < 1000 ms |`,
  )
  console.log(
    `| query round trip dispatcher -> lookup, median (µs) | ${f(median(medians))} | ${f(ipcMedian)} (Node IPC json ping-pong) | ${(median(medians) / ipcMedian).toFixed(2)}x | < 100 µs |`,
  )
  console.log(
    `| query round trip, p99 (µs, median of runs) | ${f(median(p99s))} | ${f(ipcP99)} | ${(median(p99s) / ipcP99).toFixed(2)}x | |`,
  )
  console.log('')
  console.log(`ready per run (ms): ${ready.map(f).join(', ')}`)
  console.log(`bare node per run (ms): ${bareReady.map(f).join(', ')}`)
  console.log(`round-trip medians per run (µs): ${medians.map(f).join(', ')}`)
}

await main()
