/**
 * pnpm bench: ipcmsg against Node's own ways of talking to a child process,
 * side by side, in one run. Each row sends messages one way from this process
 * to a child and stops the clock when the child reports it has them all.
 * Prints medians of RUNS runs and the ratios the issue sets as targets.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process'
import { openSync } from 'node:fs'
import { Socket } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Channel, closeFd, type DialectName, socketpair } from '@poolp/ipcmsg'

const here = dirname(fileURLToPath(import.meta.url))
const peer = join(here, 'peer.ts')
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const SMALL = 64
const LARGE = 64 * 1024
const N_SMALL = Number(process.env.BENCH_N_SMALL ?? 1_000_000)
const N_LARGE = Number(process.env.BENCH_N_LARGE ?? 20_000)
const N_FD = Number(process.env.BENCH_N_FD ?? 200_000)
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

/** Seconds to deliver count messages of size bytes through ipcmsg. */
async function ipcmsg(count: number, size: number, withFd: boolean): Promise<number> {
  const dialect: DialectName = size + 16 > 0xffff ? '2024' : 'classic'
  const max = Math.max(16384, size + 16)
  const { child, fd } = spawnWithFd([withFd ? 'ipcmsg-fd' : 'ipcmsg', String(count), String(size)], {
    BENCH_DIALECT: dialect,
    BENCH_MAX: String(max),
  })
  const ch = Channel.fromFd(fd, { dialect, maxMessageSize: max })
  const done = new Promise<void>((resolve) => ch.handle(2, () => resolve()))
  void ch.dispatch()
  // Wait for the child to be up: one round trip before the clock starts.
  const passFd = withFd ? openSync('/dev/null', 'r') : undefined
  const body = Buffer.alloc(size, 0x61)
  await new Promise((r) => setTimeout(r, 300))
  const start = process.hrtime.bigint()
  for (let i = 0; i < count; i++) {
    const ok = withFd ? ch.message(1, body, { fd: passFd, keepFd: true }) : ch.message(1, body)
    if (!ok) await ch.drain()
  }
  await done
  const secs = Number(process.hrtime.bigint() - start) / 1e9
  if (passFd !== undefined) closeFd(passFd)
  ch.close()
  await exited(child)
  return secs
}

async function nodeIpc(count: number, size: number, serialization: 'json' | 'advanced'): Promise<number> {
  const child = fork(
    peer,
    [serialization === 'json' ? 'ipc-json' : 'ipc-advanced', String(count), String(size)],
    {
      execArgv,
      serialization,
    },
  )
  await new Promise((r) => child.once('spawn', r))
  const done = new Promise<void>((resolve) => child.once('message', () => resolve()))
  const body = serialization === 'json' ? 'a'.repeat(size) : Buffer.alloc(size, 0x61)
  await new Promise((r) => setTimeout(r, 300))
  const start = process.hrtime.bigint()
  // process.send has no drain event: pace on the callback of each batch's last send.
  const batch = 1000
  for (let i = 0; i < count; i += batch) {
    const end = Math.min(count, i + batch)
    for (let j = i; j < end - 1; j++) child.send(body)
    await new Promise<void>((resolve) => child.send(body, () => resolve()))
  }
  await done
  const secs = Number(process.hrtime.bigint() - start) / 1e9
  child.disconnect()
  await exited(child)
  return secs
}

async function rawNet(count: number, size: number): Promise<number> {
  const { child, fd } = spawnWithFd(['net', String(count), String(size)])
  const sock = new Socket({ fd, readable: true, writable: true })
  const done = new Promise<void>((resolve) => sock.once('data', () => resolve()))
  const body = Buffer.alloc(size, 0x61)
  await new Promise((r) => setTimeout(r, 300))
  const start = process.hrtime.bigint()
  for (let i = 0; i < count; i++) {
    if (!sock.write(body)) await new Promise((r) => sock.once('drain', r))
  }
  await done
  const secs = Number(process.hrtime.bigint() - start) / 1e9
  sock.destroy()
  await exited(child)
  return secs
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

async function measure(run: () => Promise<number>): Promise<number> {
  const times: number[] = []
  for (let i = 0; i < RUNS; i++) times.push(await run())
  return median(times)
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US')

interface Row {
  path: string
  small: number
  large: number
  fd?: number
}

const rows: Row[] = []
const paths: [string, (n: number, s: number) => Promise<number>][] = [
  ['child_process IPC, json', (n, s) => nodeIpc(n, s, 'json')],
  ['child_process IPC, advanced', (n, s) => nodeIpc(n, s, 'advanced')],
  ['raw net.Socket, one write per message', rawNet],
  ['@poolp/ipcmsg', (n, s) => ipcmsg(n, s, false)],
]
for (const [path, fn] of paths) {
  const small = N_SMALL / (await measure(() => fn(N_SMALL, SMALL)))
  const large = (N_LARGE * LARGE) / 1e6 / (await measure(() => fn(N_LARGE, LARGE)))
  const row: Row = { path, small, large }
  if (path === '@poolp/ipcmsg') row.fd = N_FD / (await measure(() => ipcmsg(N_FD, SMALL, true)))
  rows.push(row)
  console.error(`  measured ${path}`)
}

console.log(
  `\nmedians of ${RUNS} runs; ${N_SMALL} x ${SMALL} B, ${N_LARGE} x ${LARGE / 1024} KiB, ${N_FD} x ${SMALL} B + fd\n`,
)
console.log('| path | 64 B msgs/s | 64 KiB MB/s | 64 B + fd msgs/s |')
console.log('|---|---:|---:|---:|')
for (const r of rows)
  console.log(`| ${r.path} | ${fmt(r.small)} | ${fmt(r.large)} | ${r.fd === undefined ? '-' : fmt(r.fd)} |`)
const byPath = (p: string) => rows.find((r) => r.path === p)!
const ours = byPath('@poolp/ipcmsg')
const json = byPath('child_process IPC, json')
const adv = byPath('child_process IPC, advanced')
console.log(
  `\n64 B: ${(ours.small / json.small).toFixed(2)}x IPC json (target >= 4x)` +
    `\n64 KiB: ${(ours.large / adv.large).toFixed(2)}x IPC advanced (target >= 1.5x)` +
    `\n64 B + fd: ${fmt(ours.fd!)} msgs/s (target >= 50,000)`,
)
