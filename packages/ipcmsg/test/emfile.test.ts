import { openSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { spawnPeer, T } from './helpers.js'

describe('running out of descriptors', () => {
  it('pauses reading instead of losing passed fds, and delivers them all later', async () => {
    const path = join(tmpdir(), `ipcmsg-emfile-${process.pid}.txt`)
    onTestFinished(() => rmSync(path, { force: true }))
    writeFileSync(path, 'x')
    const peer = spawnPeer('emfile', {}, {}, ['prlimit', '--nofile=256:256'])
    const full = new Promise<void>((resolve) => peer.channel.handle(T.DONE, () => resolve()))
    void peer.channel.dispatch()
    await full
    for (let i = 0; i < 8; i++) peer.channel.message(T.READ_FD, undefined, { fd: openSync(path, 'r') })
    const reply = peer.channel.query(T.PING)
    await peer.channel.drain()
    // Let the child try to read with a full table, then give it room.
    await new Promise((r) => setTimeout(r, 200))
    peer.child.kill('SIGUSR2')
    expect((await reply).payload.toString()).toBe('8/8')
    peer.channel.message(T.EXIT)
    expect(await peer.exited).toBe(0)
  })

  it('never reads more fds than it counted free slots for, with the table kept nearly full', async () => {
    const path = join(tmpdir(), `ipcmsg-emfile-top-${process.pid}.txt`)
    onTestFinished(() => rmSync(path, { force: true }))
    writeFileSync(path, 'x')
    // 20 free slots, all among the highest numbers: enough for one count, never for 300 fds.
    const peer = spawnPeer('emfile', {}, { EMFILE_FREE: 'top' }, ['prlimit', '--nofile=256:256'])
    const full = new Promise<void>((resolve) => peer.channel.handle(T.DONE, () => resolve()))
    void peer.channel.dispatch()
    await full
    peer.child.kill('SIGUSR2')
    await new Promise((r) => setTimeout(r, 100))
    for (let i = 0; i < 300; i++) {
      if (!peer.channel.message(T.READ_FD, undefined, { fd: openSync(path, 'r') })) await peer.channel.drain()
    }
    expect((await peer.channel.query(T.PING, undefined, { timeout: 20_000 })).payload.toString()).toBe(
      '300/300',
    )
    peer.channel.message(T.EXIT)
    expect(await peer.exited).toBe(0)
  })
})
