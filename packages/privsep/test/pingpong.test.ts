/**
 * The seed's ping/pong daemon, run the way its README says (through tsx, from source), as
 * any user: it needs no root, since no process changes user or root directory.
 */
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { bundled, packageDir } from './helpers/bundle.js'
import {
  cmdline,
  daemonChildren,
  environ,
  fdTargets,
  isAlive,
  runDaemon,
  socketGraph,
} from './helpers/daemon.js'

// Each test starts real daemons: on a loaded machine (CI runs every package at once) a
// start can take seconds, so allow more than the suite's default 30 s.
vi.setConfig({ testTimeout: 90_000, hookTimeout: 90_000 })

describe('the ping/pong example', () => {
  it('bounces PING and PONG between foobar and barbaz, then stops on SIGINT', async () => {
    const daemon = runDaemon(join(packageDir, 'examples/pingpong.ts'), ['--interval=20'], { tsx: true })
    const pongs = () => daemon.lines.filter((l) => l.endsWith('received PONG')).length
    await expect.poll(pongs, { timeout: 30_000 }).toBeGreaterThanOrEqual(3)
    const children = daemonChildren(daemon.pid, 'pingpong')
    expect([...children.keys()].sort()).toEqual(['barbaz', 'foobar'])
    expect(cmdline(children.get('foobar')!)).toBe('pingpong: foobar')
    expect(cmdline(children.get('barbaz')!)).toBe('pingpong: barbaz')
    await daemon.waitFor(new RegExp(`^foobar\\[${children.get('foobar')}\\]: \\[foobar\\] received PING$`))
    await daemon.waitFor(new RegExp(`^barbaz\\[${children.get('barbaz')}\\]: \\[barbaz\\] received PONG$`))

    // Only foobar and barbaz declared each other: the parent holds nothing but the two
    // control channels.
    const graph = socketGraph(new Map([['parent', daemon.pid], ...children]))
    expect(Object.fromEntries(graph)).toEqual({ 'barbaz|foobar': 1, 'barbaz|parent': 1, 'foobar|parent': 1 })

    daemon.proc.kill('SIGINT')
    expect(await daemon.exited).toEqual({ code: 0, signal: null })
    expect(daemon.lines).toContainEqual(
      expect.stringMatching(/^parent\[\d+\]: received SIGINT; shutting down$/),
    )
    for (const pid of children.values()) expect(isAlive(pid)).toBe(false)
  })
})

describe('the ping/pong example declared as one object', () => {
  it('behaves the same', async () => {
    const daemon = runDaemon(join(packageDir, 'examples/pingpong-declarative.ts'), ['--interval=20'], {
      tsx: true,
    })
    await daemon.waitFor(/^foobar\[\d+\]: received PING from barbaz$/, 30_000)
    await daemon.waitFor(/^barbaz\[\d+\]: received PONG from foobar$/)
    const children = daemonChildren(daemon.pid, 'pingpong')
    expect([...children.keys()].sort()).toEqual(['barbaz', 'foobar'])
    daemon.proc.kill('SIGTERM')
    expect(await daemon.exited).toEqual({ code: 0, signal: null })
  })
})

describe('no Node IPC channel in a child', () => {
  it('even when the parent was started with one', async () => {
    const daemon = runDaemon(await bundled('pingpong'), ['--interval=50'], { ipc: true })
    await daemon.waitFor(/received PONG$/)
    expect(environ(daemon.pid).has('NODE_CHANNEL_FD')).toBe(true)
    const children = daemonChildren(daemon.pid, 'pingpong')
    for (const [name, pid] of children) {
      const env = environ(pid)
      expect(env.has('NODE_CHANNEL_FD'), name).toBe(false)
      expect(env.has('NODE_CHANNEL_SERIALIZATION_MODE'), name).toBe(false)
      // Its sockets: fd 3 to the parent and its one peer, nothing else.
      const sockets = [...fdTargets(pid)].filter(([fd, t]) => fd > 2 && t.startsWith('socket:'))
      expect(sockets.length, name).toBe(2)
    }
    daemon.proc.kill('SIGTERM')
    expect((await daemon.exited).code).toBe(0)
  })
})

describe('maxMessageSize', () => {
  const fixture = join(packageDir, 'test/fixtures/big-messages.ts')
  it('carries a 4 MiB query and its reply between peers when sized for it', async () => {
    const daemon = runDaemon(fixture, [String(4 << 20), String(5 << 20)], { tsx: true })
    const expected = createHash('sha256')
      .update(Buffer.alloc(4 << 20, 7))
      .digest('hex')
    await daemon.waitFor(new RegExp(`^sender\\[\\d+\\]: echoed ${4 << 20} ${expected}$`), 60_000)
    daemon.proc.kill('SIGTERM')
    expect(await daemon.exited).toEqual({ code: 0, signal: null })
  })

  it('refuses such a message with the default size, and the daemon lives on', async () => {
    const daemon = runDaemon(fixture, [String(4 << 20), 'default'], { tsx: true })
    await daemon.waitFor(/^sender\[\d+\]: failed: IPCMSG_TOO_LARGE$/, 60_000)
    daemon.proc.kill('SIGTERM')
    expect(await daemon.exited).toEqual({ code: 0, signal: null })
  })
})
