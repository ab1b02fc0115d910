import { openSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { spawnPeer, T } from './helpers.js'

describe('running out of descriptors', () => {
  it('pauses reading instead of losing passed fds, and delivers them all later', async () => {
    const path = join(tmpdir(), `ipcmsg-emfile-${process.pid}.txt`)
    writeFileSync(path, 'x')
    const peer = spawnPeer('emfile', {}, {}, ['prlimit', '--nofile=256:256'])
    const full = new Promise<void>((resolve) => peer.channel.handle(T.DONE, () => resolve()))
    void peer.channel.dispatch()
    await full
    const start = Date.now()
    for (let i = 0; i < 8; i++) peer.channel.message(T.READ_FD, undefined, { fd: openSync(path, 'r') })
    const reply = await peer.channel.query(T.PING)
    expect(reply.payload.toString()).toBe('8/8')
    // The child frees descriptors 500 ms after it filled its table: it
    // could only read once it had room.
    expect(Date.now() - start).toBeGreaterThan(300)
    peer.channel.message(T.EXIT)
    expect(await peer.exited).toBe(0)
  })
})
