/**
 * The plakar:// client against a hostile or broken server: a real TCP server on 127.0.0.1
 * that speaks just enough of protocol v1 to mislead. Whatever the server does, every call
 * settles, with one STORAGE_REMOTE (or STORAGE_CLOSED) error, and nothing hangs.
 */
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import {
  ACCESS,
  FieldWriter,
  type Frame,
  FrameDecoder,
  frame,
  frameHeader,
  PROTOCOL_VERSION,
  T,
} from '../../src/storage/remote/protocol.js'
import { RemoteStore } from '../../src/storage/remote/store-remote.js'

type Script = (f: Frame, socket: net.Socket) => void

const servers: net.Server[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))))
})

/** A server that answers each frame with `script`; resolves with a client store for it. */
async function fake(script: Script, timeout = 60_000): Promise<RemoteStore> {
  const server = net.createServer((socket) => {
    const decoder = new FrameDecoder()
    socket.on('error', () => {})
    socket.on('data', (chunk) => {
      for (const f of decoder.push(chunk)) script(f, socket)
    })
  })
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as net.AddressInfo).port
  return new RemoteStore(
    `plakar://127.0.0.1:${port}`,
    { kind: 'tcp', host: '127.0.0.1', port },
    {
      token: 'token',
      timeout,
    },
  )
}

/** Answers HELLO and AUTH as a server offering `slots` requests at once; then `rest`. */
function handshaking(slots: number, rest: Script): Script {
  return (f, socket) => {
    if (f.type === T.HELLO)
      socket.write(
        frame(
          T.WELCOME,
          f.id,
          new FieldWriter()
            .u16(PROTOCOL_VERSION)
            .u32(1 << 20)
            .u16(slots)
            .finish(),
        ),
      )
    else if (f.type === T.AUTH)
      socket.write(frame(T.AUTH_OK, f.id, new FieldWriter().u8(ACCESS.indexOf('full')).finish()))
    else rest(f, socket)
  }
}

const okLength = (id: number, n: number) => frame(T.OK, id, new FieldWriter().u64(n).finish())

describe('plakar:// client against a hostile server', () => {
  it('a server that accepts and never says hello fails the call at the timeout', async () => {
    const store = await fake(() => {}, 1000)
    await expect(store.open()).rejects.toMatchObject({
      code: 'STORAGE_REMOTE',
      message: expect.stringMatching(/no answer from the server in 1 s/),
    })
    await store.close()
  })

  it('a server offering no request slots is still used one request at a time', async () => {
    const store = await fake(handshaking(0, (f, s) => s.write(frame(T.OK, f.id))))
    await store.open()
    await store.open()
    await store.close()
  })

  it('a second OK in the middle of a get is a broken protocol, not a short object', async () => {
    const store = await fake(
      handshaking(4, (f, s) => {
        s.write(okLength(f.id, 10))
        s.write(Buffer.concat([frameHeader(T.DATA, f.id, 4), Buffer.from('abcd')]))
        s.write(okLength(f.id, 4))
      }),
    )
    await expect(store.get('pack', 'aa')).rejects.toMatchObject({
      code: 'STORAGE_REMOTE',
      message: expect.stringMatching(/broke the protocol: a second OK/),
    })
    await store.close()
  })

  it('an answer of another length than asked for, or of 4 GiB, is refused before any allocation', async () => {
    const store = await fake(handshaking(4, (f, s) => s.write(okLength(f.id, 2 ** 32))))
    await expect(store.get('pack', 'aa', 0, 10)).rejects.toMatchObject({
      code: 'STORAGE_REMOTE',
      message: expect.stringMatching(/answered with 4294967296 bytes/),
    })
    await expect(store.get('pack', 'aa')).rejects.toMatchObject({ code: 'STORAGE_REMOTE' })
    await store.close()
  })

  it('close() fails the calls still waiting, with STORAGE_CLOSED', async () => {
    let asked!: () => void
    const arrived = new Promise<void>((r) => {
      asked = r
    })
    const store = await fake(handshaking(4, () => asked()))
    const pending = store.stat('pack', 'aa')
    await arrived
    await store.close()
    await expect(pending).rejects.toMatchObject({ code: 'STORAGE_CLOSED' })
  })
})
