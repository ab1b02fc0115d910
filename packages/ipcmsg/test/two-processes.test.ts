import { closeSync, openSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { spawnPeer, T } from './helpers.js'

describe('two Node processes over a socketpair', () => {
  it('ping/pong and an open file read on the other side', async () => {
    const { channel, exited } = spawnPeer('echo')
    const pong = await channel.query(T.PING, Buffer.from('hello'))
    expect(pong.type).toBe(T.PONG)
    expect(pong.payload.toString()).toBe('hello')

    const path = join(tmpdir(), `ipcmsg-2p-${process.pid}.txt`)
    writeFileSync(path, 'contents of a file the child never opened')
    const fd = openSync(path, 'r')
    const reply = await channel.query(T.READ_FD, undefined, { fd })
    expect(reply.payload.toString()).toBe('41:contents of a file the child never opened')

    channel.message(T.EXIT)
    await channel.dispatch()
    expect(await exited).toBe(0)
    closeSync(openSync(path, 'r'))
  })
})
