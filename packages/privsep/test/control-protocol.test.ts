/**
 * A malformed control message is fatal for the process that receives it, and only for it:
 * a child facing a broken parent exits with one clear line; a parent facing a broken child
 * stops the daemon in order instead of crashing.
 */
import { spawn } from 'node:child_process'
import { Channel, socketpair } from '@poolp/ipcmsg'
import { describe, expect, it, vi } from 'vitest'
import { bundled } from './helpers/bundle.js'
import { runDaemon } from './helpers/daemon.js'
import { isRoot } from './helpers/system.js'

// Each test starts real daemons: on a loaded machine (CI runs every package at once) a
// start can take seconds, so allow more than the suite's default 30 s.
vi.setConfig({ testTimeout: 90_000, hookTimeout: 90_000 })

/** Starts the ping/pong example's foobar under a fake parent that sends `send`. */
async function childAgainst(send: (control: Channel) => void): Promise<{ code: number | null; out: string }> {
  const [mine, theirs] = socketpair()
  const child = spawn(
    process.execPath,
    [await bundled('pingpong'), '--privsep-child=foobar', ' '.repeat(20)],
    {
      stdio: ['ignore', 'pipe', 'pipe', theirs],
    },
  )
  const { closeSync } = await import('node:fs')
  closeSync(theirs)
  const control = Channel.fromFd(mine, { peerids: 'application' })
  control.dispatch().catch(() => {})
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (out += d))
  send(control)
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))
  control.close()
  return { code, out: out.trim() }
}

describe('control protocol', () => {
  it('a channel to a process the child did not declare is fatal for the child', async () => {
    const [a, b] = socketpair()
    const { closeSync } = await import('node:fs')
    closeSync(b)
    const { code, out } = await childAgainst((c) => c.message(1, Buffer.from('parent'), { fd: a, peerid: 1 }))
    expect(code).toBe(1)
    expect(out).toMatch(/^foobar\[\d+\]: control protocol: unexpected channel to "parent"$/)
  })

  it('GO before every channel arrived', async () => {
    const { code, out } = await childAgainst((c) =>
      c.message(2, new Uint8Array(new Uint32Array([0]).buffer), { peerid: 1 }),
    )
    expect(code).toBe(1)
    expect(out).toMatch(/^foobar\[\d+\]: control protocol: PRIVSEP_GO before the channel to "barbaz"$/)
  })

  it('another protocol version', async () => {
    const { code, out } = await childAgainst((c) => c.message(2, new Uint8Array(4), { peerid: 7 }))
    expect(code).toBe(1)
    expect(out).toMatch(/^foobar\[\d+\]: control protocol: version 7, expected 1$/)
  })

  it('an unknown type', async () => {
    const { code, out } = await childAgainst((c) => c.message(99, undefined, { peerid: 1 }))
    expect(code).toBe(1)
    expect(out).toMatch(/^foobar\[\d+\]: control channel failed: .*type 99.*unexpected message/)
  })

  it.skipIf(!isRoot)(
    'garbage from a child: the parent stops the daemon with status 1, no crash',
    async () => {
      const daemon = runDaemon(await bundled('jail'), ['garbage'])
      const status = await daemon.exited
      expect(status).toEqual({ code: 1, signal: null })
      expect(daemon.lines).toContainEqual(
        expect.stringMatching(
          /^parent\[\d+\]: control channel of child "idle" failed: .*: length 4 is shorter than the 16-byte header; shutting down$/,
        ),
      )
      expect(daemon.lines.join('\n')).not.toMatch(/at .*\.js:\d+/)
    },
  )

  it.skipIf(!isRoot)('a message type the receiver has no handler for is fatal, and named', async () => {
    const daemon = runDaemon(await bundled('jail'), ['unexpected'])
    expect((await daemon.exited).code).toBe(1)
    expect(daemon.lines).toContainEqual(
      expect.stringMatching(
        /^parent\[\d+\]: channel to "jailed" failed: ipcmsg: SURPRISE \(type 42\): unexpected message; shutting down$/,
      ),
    )
  })
})
