import { closeSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  Channel,
  ChannelError,
  closeFd,
  Listener,
  MessageTooLargeError,
  PeerClosedError,
  ProtocolError,
  QueryAbortedError,
  QueryTimeoutError,
  QueueFullError,
  socketpair,
} from '@poolp/ipcmsg'
import { describe, expect, it, onTestFinished } from 'vitest'

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
    onTestFinished(() => rmSync(path, { force: true }))
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

describe('Channel options and lifecycle', () => {
  it('aborts a query with its AbortSignal and drops the late reply', async () => {
    const [a, b] = Channel.pair({ strict: true })
    let answer: (() => void) | undefined
    b.handle(PING, (msg, ch) => {
      answer = () => ch.reply(msg, PONG, Buffer.from('late'))
    })
    void b.dispatch()
    const ac = new AbortController()
    const q = a.query(PING, undefined, { signal: ac.signal })
    await new Promise((r) => setTimeout(r, 20))
    ac.abort(new Error('user gave up'))
    await expect(q).rejects.toBeInstanceOf(QueryAbortedError)
    // The late reply finds no query; a strict channel still does not fail on it.
    answer!()
    const after = await (async () => {
      b.handle(PING, (msg, ch) => {
        ch.reply(msg, PONG, Buffer.from('on time'))
      })
      return a.query(PING)
    })()
    expect(after.payload.toString()).toBe('on time')
    expect(a.isOpen).toBe(true)
    await expect(a.query(PING, undefined, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(
      QueryAbortedError,
    )
    a.close()
    b.close()
  })

  it('leaves peerid to the application when asked', async () => {
    const [a, b] = Channel.pair({ peerids: 'application' })
    const seen: number[] = []
    b.handle(PONG, (msg) => {
      seen.push(msg.peerid)
      if (seen.length === 2) b.close()
    })
    a.message(PONG, undefined, { peerid: 8 })
    a.message(PONG, undefined, { peerid: 8 })
    await expect(a.query(PING)).rejects.toThrow(/leaves peerid to the application/)
    await b.dispatch()
    expect(seen).toEqual([8, 8])
    a.close()
  })

  it('bounds the send queue when nobody reads, and drains when the peer does', async () => {
    const [a, b] = Channel.pair({ highWaterMark: 64 * 1024, maxQueuedBytes: 512 * 1024 })
    const body = Buffer.alloc(16000)
    let sent = 0
    let below = true
    for (;;) {
      try {
        below = a.message(PING, body)
        sent++
      } catch (err) {
        expect(err).toBeInstanceOf(QueueFullError)
        break
      }
    }
    expect(below).toBe(false)
    expect(a.queuedBytes).toBeLessThanOrEqual(512 * 1024)
    let got = 0
    b.handle(PING, () => {
      got++
    })
    void b.dispatch()
    await a.drain()
    expect(a.queuedBytes).toBe(0)
    await new Promise((r) => setTimeout(r, 50))
    expect(got).toBe(sent)
    a.close()
    b.close()
  })

  it('accepts connections on a UNIX socket path', async () => {
    const path = join(tmpdir(), `ipcmsg-listen-${process.pid}.sock`)
    const served: Promise<void>[] = []
    const listener = Listener.listen(path, (ch) => {
      ch.handle(PING, (msg, c) => {
        c.reply(msg, PONG, Buffer.from(`served ${msg.payload}`))
      })
      served.push(ch.dispatch())
    })
    const clients = [Channel.connect(path), Channel.connect(path)]
    const replies = await Promise.all(clients.map((c, i) => c.query(PING, Buffer.from(String(i)))))
    expect(replies.map((r) => r.payload.toString())).toEqual(['served 0', 'served 1'])
    for (const c of clients) c.close()
    await Promise.all(served)
    listener.close()
    expect(() => Channel.connect(path)).toThrow(ChannelError)
    expect(() => Channel.connect(path)).toThrow(/cannot connect to .*ENOENT|No such file/)
  })

  it('refuses a maximum the dialect cannot express', () => {
    const [a, b] = socketpair()
    expect(() => Channel.fromFd(a, { maxMessageSize: 70000 })).toThrow(/16\.\.65535 in the classic dialect/)
    expect(() => Channel.fromFd(a, { dialect: 'nope' as 'classic' })).toThrow(/unknown dialect/)
    closeFd(a)
    closeFd(b)
  })

  it('bounds the fds waiting to be sent, leaving a refused fd with its owner', async () => {
    const [a, b] = Channel.pair({ maxQueuedFds: 8 })
    const fd = openSync('/dev/null', 'r')
    let sent = 0
    let refused: unknown
    let warned = -1
    for (let i = 0; i < 100_000 && refused === undefined; i++) {
      try {
        if (!a.message(PING, Buffer.alloc(1000), { fd, keepFd: true }) && warned < 0) warned = sent + 1
        sent++
      } catch (err) {
        refused = err
      }
    }
    // message() said to wait (half the bound) before a send was refused.
    expect(warned).toBeGreaterThan(0)
    expect(warned).toBeLessThan(sent)
    expect(refused).toBeInstanceOf(QueueFullError)
    expect((refused as Error).message).toMatch(/8 fds already wait to be sent/)
    // Our fd is still ours and open.
    expect(readSync(fd, Buffer.alloc(1))).toBe(0)
    let got = 0
    b.handle(PING, (msg) => {
      msg.closeFd()
      got++
    })
    void b.dispatch()
    await a.drain()
    await new Promise((r) => setTimeout(r, 50))
    expect(got).toBe(sent)
    closeSync(fd)
    a.close()
    b.close()
  })

  it('refuses an fd that is not a socket, leaving it open', () => {
    const fd = openSync('/dev/null', 'r')
    expect(() => Channel.fromFd(fd)).toThrow(/fd \d+ is a character, not a socket/)
    expect(() => Channel.fromFd(100_000)).toThrow(ChannelError)
    closeSync(fd)
  })
})
