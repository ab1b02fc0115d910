/**
 * Whatever dies first, the whole daemon is gone within 2 seconds: kill -9 of each child in
 * turn, kill -9 of the parent, SIGTERM or SIGHUP to the parent. Looped, because races hide
 * in timing.
 */
import { chmodSync, cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { bundled } from './helpers/bundle.js'
import { daemonChildren, isAlive, runDaemon } from './helpers/daemon.js'
import { ensureSmtpdSystem, isRoot } from './helpers/system.js'

// Each test starts real daemons: on a loaded machine (CI runs every package at once) a
// start can take seconds, so allow more than the suite's default 30 s.
vi.setConfig({ testTimeout: 90_000, hookTimeout: 90_000 })

const ROUNDS = 2
const CHILDREN = ['crypto', 'control', 'lookup', 'dispatcher', 'queue', 'scheduler']
/** SIGINT is the ping/pong test's; the rounds take turns with the other two. */
const SIGNALS = ['SIGTERM', 'SIGHUP'] as const
const isSignal = (v: string): v is (typeof SIGNALS)[number] => v.startsWith('SIG')

async function allGone(pids: number[], limitMs: number): Promise<number> {
  const start = performance.now()
  while (pids.some(isAlive)) {
    if (performance.now() - start > limitMs) break
    await new Promise((r) => setTimeout(r, 10))
  }
  return performance.now() - start
}

describe.skipIf(!isRoot)('lifecycle of the seven-process daemon', () => {
  let dir: string
  let keyPath: string

  beforeAll(() => {
    ensureSmtpdSystem()
    dir = mkdtempSync(join(tmpdir(), 'privsep-life-'))
    keyPath = join(dir, 'key')
    writeFileSync(keyPath, 'secret')
    chmodSync(keyPath, 0o600)
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  for (let round = 1; round <= ROUNDS; round++) {
    for (const victim of [...CHILDREN, 'parent', SIGNALS[(round - 1) % SIGNALS.length]!]) {
      it(`round ${round}: ${isSignal(victim) ? `${victim} to the parent` : `kill -9 ${victim}`}`, async () => {
        const daemon = runDaemon(await bundled('smtpd'), [`--key=${keyPath}`])
        await daemon.waitFor(/parent\[\d+\]: all children ready/)
        const children = daemonChildren(daemon.pid, 'smtpd')
        expect(children.size).toBe(6)
        const everyone = [daemon.pid, ...children.values()]

        if (isSignal(victim)) process.kill(daemon.pid, victim)
        else process.kill(victim === 'parent' ? daemon.pid : children.get(victim)!, 'SIGKILL')

        const elapsed = await allGone(everyone, 2000)
        expect(everyone.filter(isAlive), `still alive after ${elapsed.toFixed(0)} ms`).toEqual([])
        expect(elapsed).toBeLessThan(2000)
        const status = await daemon.exited
        if (isSignal(victim)) {
          expect(status).toEqual({ code: 0, signal: null })
          expect(daemon.lines).toContain(`parent[${daemon.pid}]: received ${victim}; shutting down`)
        } else if (victim === 'parent') {
          // The kernel kills the children (their parent-death signal): no line of theirs.
          expect(status.signal).toBe('SIGKILL')
        } else {
          expect(status).toEqual({ code: 1, signal: null })
          const pid = children.get(victim)!
          expect(daemon.lines).toContain(
            `parent[${daemon.pid}]: lost child "${victim}" (pid ${pid}): killed by signal SIGKILL; shutting down`,
          )
        }
      })
    }
  }
})

describe.skipIf(!isRoot)('children whose event loop is blocked, when the parent is killed', () => {
  beforeAll(() => ensureSmtpdSystem())

  /** Kills whatever survived, so a failing round leaves no busy process behind. */
  const reap = (pids: number[]) => {
    for (const pid of pids.filter(isAlive)) process.kill(pid, 'SIGKILL')
  }

  for (let round = 1; round <= 3; round++) {
    it(`round ${round}: a jailed and an unjailed child stuck in a loop are gone within 2 s of kill -9 of the parent`, async () => {
      const daemon = runDaemon(await bundled('jail'), ['busy'])
      await daemon.waitFor(/^parent\[\d+\]: parent offsets/) // every child is ready, titled
      const children = daemonChildren(daemon.pid, 'jail')
      expect([...children.keys()].sort()).toEqual(['idle', 'jailed'])
      const pids = [...children.values()]
      try {
        process.kill(daemon.pid, 'SIGKILL')
        const elapsed = await allGone(pids, 2000)
        expect(pids.filter(isAlive), `still alive after ${elapsed.toFixed(0)} ms`).toEqual([])
      } finally {
        reap(pids)
      }
    })
  }

  it('a parent that died before the child asked to die with it: the child notices and exits', async () => {
    const daemon = runDaemon(await bundled('jail'), ['orphaned-early'])
    await daemon.waitFor(/^jailed\[\d+\]: waiting for the parent to die$/)
    const children = daemonChildren(daemon.pid, 'jail')
    const pids = [...children.values()]
    try {
      process.kill(daemon.pid, 'SIGKILL')
      const elapsed = await allGone(pids, 2000)
      expect(pids.filter(isAlive), `still alive after ${elapsed.toFixed(0)} ms`).toEqual([])
      await daemon.waitFor(
        new RegExp(`^jailed\\[${children.get('jailed')}\\]: parent is gone: exiting$`),
        2000,
      )
    } finally {
      reap(pids)
    }
  })
})

describe.skipIf(!isRoot)('a child that fails or leaves', () => {
  beforeAll(() => ensureSmtpdSystem())

  it('a throwing preStart handler: its stack under the child name, the daemon stops with status 1', async () => {
    const daemon = runDaemon(await bundled('jail'), ['fail-prestart'])
    const status = await daemon.exited
    expect(status).toEqual({ code: 1, signal: null })
    expect(daemon.lines).toContainEqual(
      expect.stringMatching(/^jailed\[\d+\]: Error: preStart could not bind its socket$/),
    )
    expect(daemon.lines).toContainEqual(
      expect.stringMatching(
        /^parent\[\d+\]: lost child "jailed" \(pid \d+\): exited with status 1; shutting down$/,
      ),
    )
    expect(daemon.lines.filter((l) => l.includes('all children ready'))).toEqual([])
  })

  it('a handler that throws: its stack under the child name, the daemon stops with status 1', async () => {
    const daemon = runDaemon(await bundled('jail'), ['throw-in-handler'])
    expect((await daemon.exited).code).toBe(1)
    const at = daemon.lines.findIndex((l) =>
      /^jailed\[\d+\]: channel to "parent" failed: Error: a bug in the REPORT handler$/.test(l),
    )
    expect(at, daemon.lines.join('\n')).toBeGreaterThanOrEqual(0)
    expect(daemon.lines[at + 1]).toMatch(/^jailed\[\d+\]: +at /)
    expect(daemon.lines).toContainEqual(
      expect.stringMatching(/^parent\[\d+\]: lost child "jailed" .*exited with status 1/),
    )
  })

  it('a query to a peer that dies fails quietly: only the dead child is blamed', async () => {
    const daemon = runDaemon(await bundled('jail'), ['peer-dies'])
    await daemon.waitFor(/^jailed\[\d+\]: asked idle$/)
    await daemon.waitFor(/^parent\[\d+\]: parent offsets/) // every child is ready, titled
    const children = daemonChildren(daemon.pid, 'jail')
    process.kill(children.get('idle')!, 'SIGKILL')
    expect((await daemon.exited).code).toBe(1)
    expect(daemon.lines).toContain(
      `parent[${daemon.pid}]: lost child "idle" (pid ${children.get('idle')}): killed by signal SIGKILL; shutting down`,
    )
    expect(
      daemon.lines.filter(
        (l) => l.startsWith('jailed[') && l !== `jailed[${children.get('jailed')}]: asked idle`,
      ),
    ).toEqual([])
    expect(daemon.lines.join('\n')).not.toContain('while stopping')
  })

  it('a child exiting by itself with status 3 is reported with that status', async () => {
    const daemon = runDaemon(await bundled('jail'), ['exit-by-itself'])
    expect((await daemon.exited).code).toBe(1)
    expect(daemon.lines).toContainEqual(
      expect.stringMatching(
        /^parent\[\d+\]: lost child "jailed" \(pid \d+\): exited with status 3; shutting down$/,
      ),
    )
  })

  it('a child that never becomes ready: the parent gives up after readyTimeout', async () => {
    const daemon = runDaemon(await bundled('jail'), ['hang'])
    expect((await daemon.exited).code).toBe(1)
    expect(daemon.lines).toContainEqual(
      expect.stringMatching(/^parent\[\d+\]: children not ready after 500 ms; shutting down$/),
    )
  })

  it('a child that ignores SIGTERM is killed after the grace period, and the status says so', async () => {
    const daemon = runDaemon(await bundled('jail'), ['stubborn'])
    await daemon.waitFor(/^parent\[\d+\]: parent offsets/)
    const children = daemonChildren(daemon.pid, 'jail')
    daemon.proc.kill('SIGTERM')
    await daemon.waitFor(/^idle\[\d+\]: ignoring SIGTERM$/)
    expect((await daemon.exited).code).toBe(1)
    expect(daemon.lines).toContain(
      `parent[${daemon.pid}]: child "idle" (pid ${children.get('idle')}) did not stop in time: killing it`,
    )
    for (const pid of children.values()) expect(isAlive(pid)).toBe(false)
  })

  it('a jailed child keeps the zone /etc/localtime names, which its jail lacks', async () => {
    // A private /etc (in a mount namespace) whose localtime is New York's, and no TZ at all.
    const dir = mkdtempSync(join(tmpdir(), 'privsep-tz-'))
    try {
      cpSync('/etc', join(dir, 'etc'), { recursive: true, verbatimSymlinks: true })
      rmSync(join(dir, 'etc/localtime'), { force: true })
      symlinkSync('/usr/share/zoneinfo/America/New_York', join(dir, 'etc/localtime'))
      const daemon = runDaemon(await bundled('jail'), ['report'], {
        env: { TZ: undefined }, // spawn leaves out variables whose value is undefined
        wrap: [
          'unshare',
          '--mount',
          '--',
          'sh',
          '-c',
          'mount --bind "$0" /etc && exec "$@"',
          join(dir, 'etc'),
        ],
      })
      const parent = await daemon.waitFor(/^parent\[\d+\]: parent offsets (.*)$/)
      const jailed = await daemon.waitFor(/^jailed\[\d+\]: jailed offsets (.*)$/)
      expect(parent[1]).toBe('300 240')
      expect(jailed[1]).toBe('300 240')
      daemon.proc.kill('SIGTERM')
      expect((await daemon.exited).code).toBe(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('a jailed child keeps the time zone TZ names', async () => {
    const daemon = runDaemon(await bundled('jail'), ['report'], { env: { TZ: 'America/New_York' } })
    const parent = await daemon.waitFor(/^parent\[\d+\]: parent offsets (.*)$/)
    const jailed = await daemon.waitFor(/^jailed\[\d+\]: jailed offsets (.*)$/)
    expect(parent[1]).toBe('300 240')
    expect(jailed[1]).toBe(parent[1])
    daemon.proc.kill('SIGTERM')
    expect((await daemon.exited).code).toBe(0)
  })
})
