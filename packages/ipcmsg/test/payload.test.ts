import {
  Catalog,
  Channel,
  empty,
  msgpack,
  PayloadError,
  PayloadReader,
  PayloadWriter,
  ProtocolError,
  raw,
} from '@poolp/ipcmsg'
import { describe, expect, it } from 'vitest'

describe('PayloadWriter / PayloadReader', () => {
  it('round-trips C-style fields in host order', () => {
    const buf = new PayloadWriter()
      .u8(7)
      .u16(0xbeef)
      .u32(0xdeadbeef)
      .i32(-5)
      .u64(2n ** 63n + 3n)
      .i64(-9)
      .string('héllo')
      .fixedString('eth0', 16)
      .bytes(Buffer.from([1, 2, 3]))
      .finish()
    expect(buf.length).toBe(1 + 2 + 4 + 4 + 8 + 8 + 7 + 16 + 3)
    // Host order, as memcpy of a C struct would give on this machine.
    expect(buf.readUInt16LE(1)).toBe(0xbeef)
    const r = new PayloadReader(buf)
    expect(r.u8()).toBe(7)
    expect(r.u16()).toBe(0xbeef)
    expect(r.u32()).toBe(0xdeadbeef)
    expect(r.i32()).toBe(-5)
    expect(r.u64()).toBe(2n ** 63n + 3n)
    expect(r.i64()).toBe(-9n)
    expect(r.string()).toBe('héllo')
    expect(r.fixedString(16)).toBe('eth0')
    expect([...r.bytes(3)]).toEqual([1, 2, 3])
    r.end()
  })

  it('fails on short payloads, missing NULs and leftovers', () => {
    expect(() => new PayloadReader(Buffer.from([1, 2])).u32()).toThrow(
      /short payload: u32 needs 4 bytes at offset 0, 2 left/,
    )
    expect(() => new PayloadReader(Buffer.from('abc')).string()).toThrow(/no terminating NUL/)
    expect(() => new PayloadReader(Buffer.from('abcd')).fixedString(4)).toThrow(/not NUL-terminated/)
    const r = new PayloadReader(Buffer.from([1, 2, 3]))
    r.u16()
    expect(() => r.end()).toThrow(PayloadError)
    expect(() => new PayloadWriter().u16(70000)).toThrow(/u16 out of range/)
    expect(() => new PayloadWriter().string('a\0b')).toThrow(/NUL/)
    expect(() => new PayloadWriter().fixedString('abcd', 4)).toThrow(/does not fit char\[4\]/)
  })

  it('turns a PayloadError in a handler into a ProtocolError naming the message', async () => {
    const proto = new Catalog({ HELLO: { type: 5, codec: raw } })
    const [a, b] = Channel.pair({ typeName: proto.nameOf })
    b.handle(5, (msg) => {
      const r = new PayloadReader(msg.payload)
      r.u32()
      r.end()
    })
    a.message(5, Buffer.alloc(6))
    const err = await b.dispatch().catch((e) => e)
    expect(err).toBeInstanceOf(ProtocolError)
    expect(err.message).toMatch(/HELLO \(type 5\): 2 unexpected byte\(s\) left/)
    expect(err.type).toBe(5)
    a.close()
  })
})

describe('Catalog', () => {
  interface Status {
    ok: boolean
    load: number[]
  }
  const proto = new Catalog({
    PING: { type: 1, codec: empty },
    STATUS: { type: 2, codec: msgpack<Status>() },
    BLOB: { type: 3, codec: raw },
  })

  it('names types and encodes structured payloads', async () => {
    expect(proto.nameOf(2)).toBe('STATUS')
    expect(proto.nameOf(99)).toBeUndefined()
    const [a, b] = Channel.pair({ typeName: proto.nameOf })
    proto.handle(b, 'PING', (_v, msg, ch) => {
      proto.reply(ch, msg, 'STATUS', { ok: true, load: [1, 2] })
    })
    void b.dispatch()
    const reply = await proto.query(a, 'PING', undefined)
    expect(reply.name).toBe('STATUS (type 2)')
    expect(proto.decode('STATUS', reply)).toEqual({ ok: true, load: [1, 2] })
    expect(() => proto.decode('BLOB', reply)).toThrow(/expected BLOB/)
    a.close()
    b.close()
  })

  it('rejects malformed msgpack and duplicate types', () => {
    const codec = msgpack()
    expect(() => codec.decode(Buffer.from([0x92, 0x01]))).toThrow(PayloadError)
    expect(() =>
      codec.decode(Buffer.concat([Buffer.from(codec.encode(1)), Buffer.from(codec.encode(2))])),
    ).toThrow(/2 values/)
    expect(() => new Catalog({ A: { type: 1, codec: raw }, B: { type: 1, codec: raw } })).toThrow(
      /both A and B/,
    )
  })
})
