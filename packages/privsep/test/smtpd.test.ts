/**
 * The seven-process example, checked against what the kernel says: ids, capabilities,
 * root directories, titles, and which processes really share a socket.
 */
import { chmodSync, closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { bundled } from './helpers/bundle.js'
import {
  cmdline,
  type Daemon,
  daemonChildren,
  fdTargets,
  isAlive,
  procStatus,
  rootOf,
  runDaemon,
  socketGraph,
  unixPeers,
} from './helpers/daemon.js'
import { ensureSmtpdSystem, isRoot, userIds } from './helpers/system.js'

// Each test starts real daemons: on a loaded machine (CI runs every package at once) a
// start can take seconds, so allow more than the suite's default 30 s.
vi.setConfig({ testTimeout: 90_000, hookTimeout: 90_000 })

const CHILDREN = ['crypto', 'control', 'lookup', 'dispatcher', 'queue', 'scheduler']

/** The example's talksTo graph (either side declaring is enough). */
const DECLARED = [
  ['parent', 'crypto'],
  ['parent', 'control'],
  ['parent', 'lookup'],
  ['parent', 'dispatcher'],
  ['parent', 'queue'],
  ['crypto', 'control'],
  ['crypto', 'dispatcher'],
  ['control', 'lookup'],
  ['control', 'dispatcher'],
  ['control', 'queue'],
  ['control', 'scheduler'],
  ['lookup', 'dispatcher'],
  ['lookup', 'queue'],
  ['dispatcher', 'queue'],
  ['queue', 'scheduler'],
]

const JAILS: Record<string, { user: string; root: string }> = {
  crypto: { user: '_smtpd', root: '/var/empty' },
  control: { user: '_smtpd', root: '/var/empty' },
  lookup: { user: '_smtpd', root: '/' },
  dispatcher: { user: '_smtpd', root: '/var/empty' },
  queue: { user: '_smtpq', root: '/var/spool/smtpd' },
  scheduler: { user: '_smtpd', root: '/var/empty' },
}

describe.skipIf(!isRoot)('the OpenSMTPD-shaped example', () => {
  let dir: string
  let keyPath: string
  let daemon: Daemon
  let pids: Map<string, number>
  let leakPath: string

  beforeAll(async () => {
    ensureSmtpdSystem()
    dir = mkdtempSync(join(tmpdir(), 'privsep-smtpd-'))
    keyPath = join(dir, 'private.key')
    writeFileSync(keyPath, 'k'.repeat(48), { mode: 0o600 })
    chmodSync(keyPath, 0o600)
    // The parent inherits fd 30 without close-on-exec, as from a careless supervisor; no child
    // may get it. (Low fds prove nothing: libuv's spawn reuses them in the child.)
    leakPath = join(dir, 'inherited-by-the-parent-only')
    writeFileSync(leakPath, '')
    const leak = openSync(leakPath, 'r')
    daemon = runDaemon(await bundled('smtpd'), [`--key=${keyPath}`], {
      extraFds: [...Array<'ignore'>(27).fill('ignore'), leak],
    })
    closeSync(leak)
    await daemon.waitFor(/parent\[\d+\]: all children ready/)
    await daemon.waitFor(/scheduler\[\d+\]: scheduled envelope 1$/)
    pids = new Map([['parent', daemon.pid], ...daemonChildren(daemon.pid, 'smtpd')])
  })

  afterAll(async () => {
    if (daemon.proc.exitCode === null) daemon.proc.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })

  it('runs the six children, each titled "smtpd: <name>" in full', () => {
    expect([...pids.keys()].sort()).toEqual(['parent', ...CHILDREN].sort())
    for (const name of CHILDREN) expect(cmdline(pids.get(name)!)).toBe(`smtpd: ${name}`)
  })

  it('drops every child to its user, groups and jail, with no capabilities left', () => {
    for (const name of CHILDREN) {
      const pid = pids.get(name)!
      const { uid, gid } = userIds(JAILS[name]!.user)
      const status = procStatus(pid)
      expect(status.uid, `${name} Uid (real, effective, saved, fs)`).toEqual([uid, uid, uid, uid])
      expect(status.gid, `${name} Gid`).toEqual([gid, gid, gid, gid])
      expect(status.groups, `${name} Groups`).toEqual([gid])
      expect(status.capEff, `${name} CapEff`).toBe('0000000000000000')
      expect(status.capPrm, `${name} CapPrm`).toBe('0000000000000000')
      expect(rootOf(pid), `${name} root`).toBe(JAILS[name]!.root)
    }
    const parent = procStatus(daemon.pid)
    expect(parent.uid).toEqual([0, 0, 0, 0])
    expect(rootOf(daemon.pid)).toBe('/')
  })

  it('gives each child fd 3, its control channel to the parent, and nothing the parent inherited', () => {
    expect([...fdTargets(daemon.pid).values()]).toContain(leakPath)
    const parentSockets = new Set(
      [...fdTargets(daemon.pid).values()].flatMap((t) => /^socket:\[(\d+)\]$/.exec(t)?.[1] ?? []),
    )
    const peers = unixPeers()
    for (const name of CHILDREN) {
      const fds = fdTargets(pids.get(name)!)
      expect([...fds.values()], name).not.toContain(leakPath)
      const control = /^socket:\[(\d+)\]$/.exec(fds.get(3) ?? '')?.[1]
      expect(control, `${name} fd 3`).toBeDefined()
      expect(parentSockets.has(peers.get(control!)!), `${name} fd 3 leads to the parent`).toBe(true)
    }
  })

  it('holds a channel between declared pairs only, plus each child control channel', () => {
    const expected = new Map<string, number>()
    const key = (a: string, b: string) => [a, b].sort().join('|')
    for (const name of CHILDREN) expected.set(key('parent', name), 1)
    for (const [a, b] of DECLARED) expected.set(key(a!, b!), (expected.get(key(a!, b!)) ?? 0) + 1)
    expect(Object.fromEntries([...socketGraph(pids)].sort())).toEqual(
      Object.fromEntries([...expected].sort()),
    )
    // For instance: nothing at all between scheduler and crypto, lookup or dispatcher.
    const graph = socketGraph(pids)
    for (const other of ['crypto', 'lookup', 'dispatcher'])
      expect(graph.get(key('scheduler', other))).toBeUndefined()
  })

  it('gives crypto, which cannot open the key itself, the open fd from the parent', () => {
    const crypto = pids.get('crypto')!
    expect(daemon.lines).toContain(`crypto[${crypto}]: cannot open ${keyPath} myself: ENOENT`)
    expect(daemon.lines).toContainEqual(
      expect.stringMatching(
        new RegExp(`^crypto\\[${crypto}\\]: received ${keyPath} from the parent as fd \\d+: 48 bytes$`),
      ),
    )
  })

  it('carries queries and messages across the graph; every line names its process', () => {
    const dispatcher = pids.get('dispatcher')!
    expect(daemon.lines).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^dispatcher\\[${dispatcher}\\]: accepted mail 1 for mailer-daemon \\(delivers to root\\)`,
        ),
      ),
    )
    expect(daemon.lines).toContain(`queue[${pids.get('queue')}]: queued envelope 1 for root`)
    expect(daemon.lines).toContainEqual(
      expect.stringMatching(
        new RegExp(`^queue\\[${pids.get('queue')}\\]: mail name \\S+ read before chroot$`),
      ),
    )
    for (const line of daemon.lines)
      expect(line).toMatch(/^(parent|crypto|control|lookup|dispatcher|queue|scheduler)\[\d+\]: /)
  })

  it('stops in order on SIGTERM: exit status 0, every process gone', async () => {
    daemon.proc.kill('SIGTERM')
    expect(await daemon.exited).toEqual({ code: 0, signal: null })
    for (const [name, pid] of pids) expect(isAlive(pid), name).toBe(false)
  })
})

describe.skipIf(!isRoot)('the example in benchmark mode', () => {
  beforeAll(() => ensureSmtpdSystem())

  it('measures, prints one JSON line and stops itself through stop() with status 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'privsep-bench-'))
    const key = join(dir, 'key')
    writeFileSync(key, 'x', { mode: 0o600 })
    try {
      const daemon = runDaemon(await bundled('smtpd'), [`--key=${key}`, '--bench=200'])
      expect(await daemon.exited).toEqual({ code: 0, signal: null })
      const json = daemon.lines.find((l) => l.startsWith('{'))
      const result = JSON.parse(json!)
      expect(result.rtt.n).toBe(200)
      expect(result.rtt.medianUs).toBeGreaterThan(0)
      expect(result.rtt.p99Us).toBeGreaterThanOrEqual(result.rtt.medianUs)
      expect(result.readyMs).toBeGreaterThan(0)
      expect(result.readyCpuMs).toBeGreaterThan(0)
      expect(daemon.lines).toContain(`parent[${daemon.pid}]: benchmark done; shutting down`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
