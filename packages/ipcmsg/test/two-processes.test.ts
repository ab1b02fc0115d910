import { closeSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs'
import { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MessageTooLargeError, PeerClosedError, socketpair } from '@poolp/ipcmsg'
import { describe, expect, it, onTestFinished } from 'vitest'
import { openFds, spawnPeer, T } from './helpers.js'

async function finish(peer: ReturnType<typeof spawnPeer>): Promise<void> {
  peer.channel.message(T.EXIT)
  await peer.channel.dispatch()
  expect(await peer.exited).toBe(0)
}

describe('two Node processes over a socketpair', () => {
  it('ping/pong and an open file read on the other side', async () => {
    const peer = spawnPeer('echo')
    const pong = await peer.channel.query(T.PING, Buffer.from('hello'))
    expect(pong.type).toBe(T.PONG)
    expect(pong.payload.toString()).toBe('hello')
    expect(pong.pid).toBe(peer.child.pid)

    const path = join(tmpdir(), `ipcmsg-2p-${process.pid}.txt`)
    onTestFinished(() => rmSync(path, { force: true }))
    writeFileSync(path, 'contents of a file the child never opened')
    const fd = openSync(path, 'r')
    const reply = await peer.channel.query(T.READ_FD, undefined, { fd })
    expect(reply.payload.toString()).toBe('41:contents of a file the child never opened')
    // Sending handed the fd over: our copy is closed.
    expect(() => readSync(fd, Buffer.alloc(1))).toThrow(/EBADF/)
    await finish(peer)
  })

  it('keeps the sender fd with keepFd, and gets an fd back', async () => {
    const peer = spawnPeer('echo')
    const path = join(tmpdir(), `ipcmsg-keep-${process.pid}.txt`)
    onTestFinished(() => rmSync(path, { force: true }))
    writeFileSync(path, 'round trip')
    const fd = openSync(path, 'r')
    const back = await peer.channel.query(T.SEND_BACK_FD, Buffer.from('x'), { fd, keepFd: true })
    expect(back.type).toBe(T.FD_BACK)
    expect(back.fd).toBeTypeOf('number')
    expect(back.fd).not.toBe(fd)
    const buf = Buffer.alloc(10)
    expect(readSync(back.fd!, buf, 0, 10, 0)).toBe(10)
    expect(buf.toString()).toBe('round trip')
    back.closeFd()
    expect(readSync(fd, buf, 0, 5, 0)).toBe(5)
    closeSync(fd)
    await finish(peer)
  })

  it('answers thousands of concurrent queries, each matched to its reply', async () => {
    const peer = spawnPeer('echo')
    const n = 5000
    const replies = await Promise.all(
      Array.from({ length: n }, (_, i) => peer.channel.query(T.PING, Buffer.from(`q${i}`))),
    )
    expect(replies.map((r) => r.payload.toString())).toEqual(Array.from({ length: n }, (_, i) => `q${i}`))
    await finish(peer)
  })

  it('passes a connected socket that the child then uses', async () => {
    const peer = spawnPeer('echo')
    const [mine, theirs] = socketpair()
    const sock = new Socket({ fd: mine, readable: true, writable: true })
    const heard = new Promise<string>((resolve) => {
      let text = ''
      sock.on('data', (d) => {
        text += d.toString()
      })
      sock.on('end', () => resolve(text))
    })
    peer.channel.message(T.USE_SOCKET, undefined, { fd: theirs })
    sock.write('ping over a passed socket')
    expect(await heard).toBe('child heard ping over a passed socket')
    sock.destroy()
    await finish(peer)
  })

  for (const dialect of ['classic', '2024'] as const) {
    it(`carries messages at the size limit in the ${dialect} dialect`, async () => {
      // 2024 can go past classic's 65535; classic keeps imsg's default.
      const max = dialect === 'classic' ? 16384 : 100_000
      const peer = spawnPeer(
        'echo',
        { dialect, maxMessageSize: max },
        { IPCMSG_DIALECT: dialect, IPCMSG_MAX: String(max) },
      )
      const full = Buffer.alloc(max - 16, 0x5a)
      const r = await peer.channel.query(T.SIZE, full)
      expect(r.payload.toString()).toBe(String(max - 16))
      const echoed = await peer.channel.query(T.PING, full)
      expect(echoed.payload.equals(full)).toBe(true)
      expect(() => peer.channel.message(T.PING, Buffer.alloc(max - 15))).toThrow(MessageTooLargeError)
      const path = join(tmpdir(), `ipcmsg-dialect-${process.pid}.txt`)
      onTestFinished(() => rmSync(path, { force: true }))
      writeFileSync(path, dialect)
      const withFd = await peer.channel.query(T.READ_FD, full.subarray(0, 100), { fd: openSync(path, 'r') })
      expect(withFd.payload.toString()).toBe(`${dialect.length}:${dialect}`)
      await finish(peer)
    })
  }

  it('backs up against a slow reader with bounded memory, then delivers everything', async () => {
    const peer = spawnPeer('echo', { highWaterMark: 64 * 1024, maxQueuedBytes: 256 * 1024 })
    const body = Buffer.alloc(1000)
    let waits = 0
    let maxQueued = 0
    const n = 3000
    for (let i = 0; i < n - 1; i++) {
      if (!peer.channel.message(T.SLOW, body)) {
        waits++
        await peer.channel.drain()
      }
      maxQueued = Math.max(maxQueued, peer.channel.queuedBytes)
    }
    const done = new Promise<string>((resolve) =>
      peer.channel.handle(T.DONE, (m) => resolve(m.payload.toString())),
    )
    peer.channel.message(T.SLOW, Buffer.from([1]))
    void peer.channel.dispatch()
    expect(await done).toBe(String(n))
    expect(waits).toBeGreaterThan(0)
    expect(maxQueued).toBeLessThanOrEqual(256 * 1024)
    await finish(peer)
  })

  it('survives a peer killed mid-stream: dispatch resolves, queries reject', async () => {
    const peer = spawnPeer('echo')
    let received = 0
    peer.channel.handle(T.DATA, () => {
      received++
      if (received === 1000) peer.child.kill('SIGKILL')
    })
    const blast = Buffer.alloc(8)
    blast.writeUInt32LE(10_000_000, 0)
    blast.writeUInt32LE(200, 4)
    const before = openFds()
    const stuck = peer.channel.query(T.BLAST, blast)
    await expect(peer.channel.dispatch()).resolves.toBeUndefined()
    await expect(stuck).rejects.toBeInstanceOf(PeerClosedError)
    await expect(stuck).rejects.toThrow(/peer closed the channel/)
    expect(received).toBeGreaterThanOrEqual(1000)
    expect(() => peer.channel.message(T.PING)).toThrow(PeerClosedError)
    await peer.exited
    // Our end of the socket is closed with the channel.
    expect(openFds()).toBeLessThan(before)
  })
})
