import { closeSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  Channel,
  MessageTooLargeError,
  PeerClosedError,
  ProtocolError,
  QueryTimeoutError,
} from '@poolp/ipcmsg'
import { describe, expect, it } from 'vitest'

const PING = 1
const PONG = 2

describe('Channel in one process', () => {
  it('delivers messages with type, peerid, pid and payload', async () => {
    const [a, b] = Channel.pair()
    const got: [number, number, number, string][] = []
    b.handle(PING, (msg) => {
      got.push([msg.type, msg.peerid, msg.pid, msg.payload.toString()])
      if (got.length === 3) b.close()
    })
    a.message(PING, Buffer.from('one'))
    a.message(PING, Buffer.from('two'), { peerid: 7, pid: 42 })
    a.message(PING)
    await b.dispatch()
    expect(got).toEqual([
      [PING, 0, process.pid, 'one'],
      [PING, 7, 42, 'two'],
      [PING, 0, process.pid, ''],
    ])
    a.close()
  })

  it('answers queries by peerid', async () => {
    const [a, b] = Channel.pair()
    b.handle(PING, (msg, ch) => {
      ch.reply(msg, PONG, Buffer.concat([Buffer.from('re:'), msg.payload]))
    })
    const served = b.dispatch()
    const replies = await Promise.all(
      Array.from({ length: 500 }, (_, i) => a.query(PING, Buffer.from(String(i)))),
    )
    expect(replies.map((r) => r.payload.toString())).toEqual(Array.from({ length: 500 }, (_, i) => `re:${i}`))
    expect(replies.every((r) => r.type === PONG)).toBe(true)
    a.close()
    await served
  })

  it('passes an open file and closes the sender copy', async () => {
    const path = join(tmpdir(), `ipcmsg-${process.pid}.txt`)
    writeFileSync(path, 'hello through SCM_RIGHTS')
    const [a, b] = Channel.pair()
    const fd = openSync(path, 'r')
    let text = ''
    b.handle(PING, (msg) => {
      expect(msg.fd).toBeTypeOf('number')
      text = readFileSync(msg.fd!, 'utf8')
      closeSync(msg.fd!)
      b.close()
    })
    a.message(PING, Buffer.from('x'), { fd })
    await b.dispatch()
    expect(text).toBe('hello through SCM_RIGHTS')
    expect(() => readSync(fd, Buffer.alloc(1))).toThrow()
    a.close()
  })

  it('refuses an oversized message on send', () => {
    const [a, b] = Channel.pair()
    expect(() => a.message(PING, Buffer.alloc(16384 - 15))).toThrow(MessageTooLargeError)
    a.message(PING, Buffer.alloc(16384 - 16))
    a.close()
    b.close()
  })

  it('rejects pending queries when the peer goes away, and dispatch resolves', async () => {
    const [a, b] = Channel.pair()
    b.handle(PING, () => b.close())
    const q = a.query(PING)
    void b.dispatch()
    await expect(q).rejects.toBeInstanceOf(PeerClosedError)
    await expect(a.dispatch()).resolves.toBeUndefined()
  })

  it('times out a query', async () => {
    const [a, b] = Channel.pair()
    await expect(a.query(PING, undefined, { timeout: 50 })).rejects.toBeInstanceOf(QueryTimeoutError)
    a.close()
    b.close()
  })

  it('closes on a strict unknown type with the type named', async () => {
    const [a, b] = Channel.pair({ strict: true, typeName: (t) => (t === 9 ? 'IMSG_NINE' : undefined) })
    a.message(9)
    await expect(b.dispatch()).rejects.toThrow(ProtocolError)
    await expect(b.dispatch()).rejects.toThrow(/IMSG_NINE \(type 9\): unexpected message/)
    a.close()
  })
})
