/**
 * Running a daemon as a user would, and reading the truth about it from /proc.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { packageDir } from './bundle.js'

export interface Daemon {
  readonly proc: ChildProcess
  readonly pid: number
  /** stdout and stderr lines so far, in arrival order per stream. */
  readonly lines: string[]
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>
  /** Resolves with the exit status (or signal) once the parent has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv
  /** Run TypeScript through tsx (as a user running the example) instead of a bundle. */
  readonly tsx?: boolean
  readonly uid?: number
  readonly gid?: number
  /** A command that runs the rest of the command line (node and its arguments), as `unshare -m`. */
  readonly wrap?: readonly string[]
  /** Start the daemon's parent with a Node IPC channel, as a Node supervisor using fork() would. */
  readonly ipc?: boolean
  /** Fds the daemon's parent inherits from 3 on, as a careless supervisor might pass them. */
  readonly extraFds?: readonly (number | 'ignore')[]
}

export function runDaemon(script: string, args: string[] = [], options: RunOptions = {}): Daemon {
  const nodeArgs = options.tsx ? ['--conditions=@poolp/source', '--import', 'tsx', script] : [script]
  const [command, ...rest] = [...(options.wrap ?? []), process.execPath, ...nodeArgs, ...args]
  const proc = spawn(command!, rest, {
    cwd: packageDir,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe', ...(options.extraFds ?? []), ...(options.ipc ? ['ipc' as const] : [])],
    uid: options.uid,
    gid: options.gid,
  })
  const lines: string[] = []
  const waiters: { pattern: RegExp; resolve: (m: RegExpMatchArray) => void; reject: (e: Error) => void }[] =
    []
  let closed: string | undefined
  const onLine = (line: string) => {
    lines.push(line)
    for (const w of [...waiters]) {
      const m = line.match(w.pattern)
      if (m) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(m)
      }
    }
  }
  for (const stream of [proc.stdout!, proc.stderr!]) {
    let buf = ''
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => {
      buf += chunk
      let nl = buf.indexOf('\n')
      while (nl >= 0) {
        onLine(buf.slice(0, nl))
        buf = buf.slice(nl + 1)
        nl = buf.indexOf('\n')
      }
    })
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal }))
  })
  // Once the daemon is gone and its output read, a line still awaited will never come.
  proc.on('close', (code, signal) => {
    closed = `the daemon ended (${signal ?? `status ${code}`})`
    for (const w of waiters.splice(0))
      w.reject(new Error(`${closed} before a line matched ${w.pattern}:\n${lines.join('\n')}`))
  })
  return {
    proc,
    pid: proc.pid!,
    lines,
    exited,
    waitFor(pattern, timeoutMs = 60_000) {
      for (const line of lines) {
        const m = line.match(pattern)
        if (m) return Promise.resolve(m)
      }
      if (closed !== undefined) {
        return Promise.reject(new Error(`${closed} before a line matched ${pattern}:\n${lines.join('\n')}`))
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no line matched ${pattern} in ${timeoutMs} ms:\n${lines.join('\n')}`)),
          timeoutMs,
        )
        waiters.push({
          pattern,
          resolve: (m) => {
            clearTimeout(timer)
            resolve(m)
          },
          reject: (e) => {
            clearTimeout(timer)
            reject(e)
          },
        })
      })
    },
  }
}

/** /proc/PID/cmdline as one string, NULs between arguments turned into spaces and trimmed. */
export function cmdline(pid: number): string {
  return readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0+$/, '').replaceAll('\0', ' ')
}

/** Children of `pid` whose title starts with `<program>: ` (tsx's esbuild helper is not one). */
export function daemonChildren(pid: number, program: string): Map<string, number> {
  const found = new Map<string, number>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8')
      if (Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]) !== pid) continue
      const title = cmdline(Number(entry))
      if (title.startsWith(`${program}: `)) found.set(title.slice(program.length + 2), Number(entry))
    } catch {
      // The process exited while we looked.
    }
  }
  return found
}

export interface ProcStatus {
  readonly uid: number[]
  readonly gid: number[]
  readonly groups: number[]
  readonly capEff: string
  readonly capPrm: string
}

export function procStatus(pid: number): ProcStatus {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? ''
  const ints = (s: string) => (s === '' ? [] : s.split(/\s+/).map(Number))
  return {
    uid: ints(field('Uid')),
    gid: ints(field('Gid')),
    groups: ints(field('Groups')),
    capEff: field('CapEff'),
    capPrm: field('CapPrm'),
  }
}

export function rootOf(pid: number): string {
  return readlinkSync(`/proc/${pid}/root`)
}

export function isAlive(pid: number): boolean {
  try {
    const state = /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
    return state !== undefined && state !== 'Z' && state !== 'X'
  } catch {
    return false
  }
}

/** Socket inodes a process holds on fds above 2 (0-2 may be the test's own pipes). */
export function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>()
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    if (Number(fd) <= 2) continue
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
      if (m) inodes.add(m[1]!)
    } catch {
      // Closed while we looked.
    }
  }
  return inodes
}

/** UNIX socket inode -> its peer's inode, from the kernel (ss -x). */
export function unixPeers(): Map<string, string> {
  const peers = new Map<string, string>()
  const out = execFileSync('ss', ['-x', '-a', '-n', '-H'], { encoding: 'utf8' })
  for (const line of out.split('\n')) {
    // Netid State Recv-Q Send-Q Local-Address Local-Inode Peer-Address Peer-Inode
    const f = line.trim().split(/\s+/)
    if (f.length < 8) continue
    peers.set(f[5]!, f[7]!)
  }
  return peers
}

/**
 * Which processes share a socket, as unordered "a|b" pairs with how many sockets connect
 * them: the channels that really exist, whatever the code believes.
 */
export function socketGraph(pids: ReadonlyMap<string, number>): Map<string, number> {
  const owner = new Map<string, string>()
  for (const [name, pid] of pids) for (const inode of socketInodes(pid)) owner.set(inode, name)
  const peers = unixPeers()
  const graph = new Map<string, number>()
  for (const [inode, name] of owner) {
    const other = owner.get(peers.get(inode) ?? '')
    if (other === undefined || other === name || name > other) continue
    const key = `${name}|${other}`
    graph.set(key, (graph.get(key) ?? 0) + 1)
  }
  return graph
}

/** Where each fd of a process points (readlink of /proc/PID/fd/N). */
export function fdTargets(pid: number): Map<number, string> {
  const targets = new Map<number, string>()
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      targets.set(Number(fd), readlinkSync(`/proc/${pid}/fd/${fd}`))
    } catch {
      // Closed while we looked.
    }
  }
  return targets
}

/** The environment a process was started with (/proc/PID/environ). */
export function environ(pid: number): Map<string, string> {
  const env = new Map<string, string>()
  for (const entry of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const eq = entry.indexOf('=')
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1))
  }
  return env
}
