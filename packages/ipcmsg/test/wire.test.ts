import { Socket } from 'node:net'
import { endianness } from 'node:os'
import { Channel, socketpair } from '@poolp/ipcmsg'
import { describe, expect, it } from 'vitest'
import { devNull } from './helpers.js'

/** The bytes a Channel writes, read back raw (a net.Socket drops passed fds, which is fine here). */
async function bytesOf(dialect: 'classic' | '2024', send: (ch: Channel) => void): Promise<Buffer> {
  const [a, b] = socketpair()
  const ch = Channel.fromFd(a, { dialect, pid: 0x01020304 })
  const sock = new Socket({ fd: b, readable: true, writable: true })
  const chunks: Buffer[] = []
  const ended = new Promise<void>((resolve) => sock.on('end', () => resolve()))
  sock.on('data', (d) => chunks.push(d))
  send(ch)
  await ch.drain()
  ch.close()
  await ended
  sock.destroy()
  return Buffer.concat(chunks)
}

describe.skipIf(endianness() !== 'LE')(
  'wire bytes (docs/ipcmsg-wire.md, version 1), little-endian host',
  () => {
    it('writes the classic header: u32 type, u16 len, u16 flags, u32 peerid, u32 pid', async () => {
      const bytes = await bytesOf('classic', (ch) => {
        ch.message(0x0a0b0c0d, Buffer.from('hi'), { peerid: 7 })
        ch.message(5, undefined, { fd: devNull(), pid: -1 })
      })
      expect(bytes.toString('hex')).toBe(
        '0d0c0b0a' +
          '1200' +
          '0000' +
          '07000000' +
          '04030201' +
          '6869' +
          '05000000' +
          '1000' +
          '0100' +
          '00000000' +
          'ffffffff',
      )
    })

    it('writes the 2024 header: u32 len with bit 31 for the fd', async () => {
      const bytes = await bytesOf('2024', (ch) => {
        ch.message(1, Buffer.from('hi'))
        ch.message(2, undefined, { fd: devNull() })
      })
      expect(bytes.toString('hex')).toBe(
        '01000000' +
          '12000000' +
          '00000000' +
          '04030201' +
          '6869' +
          '02000000' +
          '10000080' +
          '00000000' +
          '04030201',
      )
    })

    it('gives the two dialects the same bytes for a message without an fd', async () => {
      const send = (ch: Channel) => ch.message(9, Buffer.alloc(100, 1), { peerid: 3 })
      expect((await bytesOf('classic', send)).equals(await bytesOf('2024', send))).toBe(true)
    })

    it('reads what it writes across dialect limits', async () => {
      const [a, b] = Channel.pair({ dialect: '2024', maxMessageSize: 70_000 })
      const got = new Promise<number>((resolve) => b.handle(1, (m) => resolve(m.payload.length)))
      void b.dispatch()
      a.message(1, Buffer.alloc(70_000 - 16))
      expect(await got).toBe(70_000 - 16)
      a.close()
      b.close()
    })
  },
)
