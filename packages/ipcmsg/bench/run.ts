/**
 * pnpm bench: ipcmsg against Node's own ways of talking to a child process,
 * side by side, in one run. Each row sends messages one way from this process
 * to a child and stops the clock when the child reports it has them all.
 * Prints medians of RUNS runs and the ratios the issue sets as targets, and
 * the CPU time both processes spent per message: on a busy machine wall-clock
 * rates follow the CPU share we get, CPU per message does not.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process'
import { openSync } from 'node:fs'
import { Socket } from 'node:net'
import { cpus, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Channel, closeFd, type DialectName, socketpair } from '@poolp/ipcmsg'

const here = dirname(fileURLToPath(import.meta.url))
const peer = join(here, 'peer.ts')
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const SMALL = 64
const LARGE = 64 * 1024
const N_SMALL = Number(process.env.BENCH_N_SMALL ?? 500_000)
const N_LARGE = Number(process.env.BENCH_N_LARGE ?? 10_000)
const N_FD = Number(process.env.BENCH_N_FD ?? 100_000)
const execArgv = ['--conditions=@poolp/source', '--import', 'tsx']

function spawnWithFd(args: string[], env: Record<string, string> = {}): { child: ChildProcess; fd: number } {
  const [mine, theirs] = socketpair()
  const child = spawn(process.execPath, [...execArgv, peer, ...args], {
    stdio: ['ignore', 'inherit', 'inherit', theirs],
    env: { ...process.env, ...env },
  })
  closeFd(theirs)
  return { child, fd: mine }
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve()
    else child.once('exit', () => resolve())
  })
}

/** Wall seconds, and CPU µs of both processes, to deliver count messages. */
interface Sample {
  secs: number
  cpu: number
}

/** Our CPU since `from` plus the child's, reported in its final message. */
function cpuTotal(from: NodeJS.CpuUsage, child: string): number {
  const c = process.cpuUsage(from)
  return c.user + c.system + Number(child)
}

async function ipcmsg(count: number, size: number, withFd: boolean): Promise<Sample> {
  const dialect: DialectName = size + 16 > 0xffff ? '2024' : 'classic'
  const max = Math.max(16384, size + 16)
  const { child, fd } = spawnWithFd([withFd ? 'ipcmsg-fd' : 'ipcmsg', String(count), String(size)], {
    BENCH_DIALECT: dialect,
    BENCH_MAX: String(max),
  })
  const ch = Channel.fromFd(fd, { dialect, maxMessageSize: max })
  const done = new Promise<string>((resolve) => ch.handle(2, (m) => resolve(m.payload.toString())))
  void ch.dispatch()
  // Wait for the child to be up: one round trip before the clock starts.
  const passFd = withFd ? openSync('/dev/null', 'r') : undefined
  const body = Buffer.alloc(size, 0x61)
  await new Promise((r) => setTimeout(r, 300))
  const cpu0 = process.cpuUsage()
  const start = process.hrtime.bigint()
  for (let i = 0; i < count; i++) {
    const ok = withFd ? ch.message(1, body, { fd: passFd, keepFd: true }) : ch.message(1, body)
    if (!ok) await ch.drain()
  }
  const childCpu = await done
  const secs = Number(process.hrtime.bigint() - start) / 1e9
  const cpu = cpuTotal(cpu0, childCpu)
  if (passFd !== undefined) closeFd(passFd)
  ch.close()
  await exited(child)
  return { secs, cpu }
}

async function nodeIpc(count: number, size: number, serialization: 'json' | 'advanced'): Promise<Sample> {
  const child = fork(
    peer,
    [serialization === 'json' ? 'ipc-json' : 'ipc-advanced', String(count), String(size)],
    {
      execArgv,
      serialization,
    },
  )
  await new Promise((r) => child.once('spawn', r))
  const done = new Promise<string>((resolve) => child.once('message', (m) => resolve(String(m))))
  const body = serialization === 'json' ? 'a'.repeat(size) : Buffer.alloc(size, 0x61)
  await new Promise((r) => setTimeout(r, 300))
  const cpu0 = process.cpuUsage()
  const start = process.hrtime.bigint()
  // process.send has no drain event: pace on the callback of each batch's last send.
  const batch = 1000
  for (let i = 0; i < count; i += batch) {
    const end = Math.min(count, i + batch)
    for (let j = i; j < end - 1; j++) child.send(body)
    await new Promise<void>((resolve) => child.send(body, () => resolve()))
  }
  const childCpu = await done
  const secs = Number(process.hrtime.bigint() - start) / 1e9
  const cpu = cpuTotal(cpu0, childCpu)
  child.disconnect()
  await exited(child)
  return { secs, cpu }
}

async function rawNet(count: number, size: number): Promise<Sample> {
  const { child, fd } = spawnWithFd(['net', String(count), String(size)])
  const sock = new Socket({ fd, readable: true, writable: true })
  const done = new Promise<string>((resolve) => {
    let text = ''
    sock.on('data', (d) => {
      text += d
    })
    sock.once('end', () => resolve(text))
  })
  const body = Buffer.alloc(size, 0x61)
  await new Promise((r) => setTimeout(r, 300))
  const cpu0 = process.cpuUsage()
  const start = process.hrtime.bigint()
  for (let i = 0; i < count; i++) {
    if (!sock.write(body)) await new Promise((r) => sock.once('drain', r))
  }
  const childCpu = await done
  const secs = Number(process.hrtime.bigint() - start) / 1e9
  const cpu = cpuTotal(cpu0, childCpu)
  sock.destroy()
  await exited(child)
  return { secs, cpu }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

/**
 * Median rate (count / secs) and median CPU µs per message over RUNS runs,
 * after one unmeasured run so every path is measured with its code warm.
 */
async function measure(count: number, run: () => Promise<Sample>): Promise<{ rate: number; cpu: number }> {
  await run()
  const samples: Sample[] = []
  for (let i = 0; i < RUNS; i++) samples.push(await run())
  console.error(`    rates: ${samples.map((s) => fmt(count / s.secs)).join(', ')}`)
  return { rate: median(samples.map((s) => count / s.secs)), cpu: median(samples.map((s) => s.cpu / count)) }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US')

interface Row {
  path: string
  small: number
  smallCpu: number
  large: number
  largeCpu: number
  fd?: number
  fdCpu?: number
}

const rows: Row[] = []
const paths: [string, (n: number, s: number) => Promise<Sample>][] = [
  ['child_process IPC, json', (n, s) => nodeIpc(n, s, 'json')],
  ['child_process IPC, advanced', (n, s) => nodeIpc(n, s, 'advanced')],
  ['raw net.Socket, one write per message', rawNet],
  ['@poolp/ipcmsg', (n, s) => ipcmsg(n, s, false)],
]
const only = process.env.BENCH_ONLY
for (const [path, fn] of paths.filter(([p]) => !only || p.includes(only))) {
  const small = await measure(N_SMALL, () => fn(N_SMALL, SMALL))
  const large = await measure(N_LARGE, () => fn(N_LARGE, LARGE))
  const row: Row = {
    path,
    small: small.rate,
    smallCpu: small.cpu,
    large: (large.rate * LARGE) / 1e6,
    largeCpu: large.cpu,
  }
  if (path === '@poolp/ipcmsg') {
    const fd = await measure(N_FD, () => ipcmsg(N_FD, SMALL, true))
    row.fd = fd.rate
    row.fdCpu = fd.cpu
  }
  rows.push(row)
  console.error(`  measured ${path}`)
}

const us = (n: number) => n.toFixed(2)
console.log(
  `\nmedians of ${RUNS} runs; ${N_SMALL} x ${SMALL} B, ${N_LARGE} x ${LARGE / 1024} KiB, ${N_FD} x ${SMALL} B + fd;` +
    ` CPU = µs per message, sender and receiver together\n`,
)
console.log('| path | 64 B msgs/s | CPU | 64 KiB MB/s | CPU | 64 B + fd msgs/s | CPU |')
console.log('|---|---:|---:|---:|---:|---:|---:|')
for (const r of rows)
  console.log(
    `| ${r.path} | ${fmt(r.small)} | ${us(r.smallCpu)} | ${fmt(r.large)} | ${us(r.largeCpu)} | ` +
      `${r.fd === undefined ? '-' : fmt(r.fd)} | ${r.fdCpu === undefined ? '-' : us(r.fdCpu)} |`,
  )
const byPath = (p: string) => rows.find((r) => r.path === p)
const ours = byPath('@poolp/ipcmsg')
const json = byPath('child_process IPC, json')
const adv = byPath('child_process IPC, advanced')
if (ours && json && adv)
  console.log(
    `\n64 B: ${(ours.small / json.small).toFixed(2)}x IPC json msgs/s (target >= 4x)` +
      `\n64 KiB: ${(ours.large / adv.large).toFixed(2)}x IPC advanced MB/s (target >= 1.5x)` +
      `\n64 B + fd: ${fmt(ours.fd!)} msgs/s (target >= 50,000)` +
      `\nload average during the run: ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')} on ${cpus().length} CPUs`,
  )
