import { IpcmsgError, PeerClosedError, ProtocolError } from '@poolp/ipcmsg'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { devNull, openFds, rawPair } from './helpers.js'

/** One write into the channel: bytes, maybe with an fd attached. */
interface Chunk {
  bytes: Uint8Array
  withFd: boolean
}

const frame = (dialect: 'classic' | '2024') =>
  fc
    .record({
      type: fc.oneof(fc.constantFrom(1, 2, 3), fc.nat()),
      payload: fc.uint8Array({ maxLength: 300 }),
      hasFd: fc.boolean(),
      lengthDelta: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, fc.integer({ min: -20, max: 70000 })),
      flags: fc.oneof({ weight: 4, arbitrary: fc.constant(-1) }, fc.nat(0xffff)),
      peerid: fc.nat(),
      sendFd: fc.oneof({ weight: 4, arbitrary: fc.constant('match') }, fc.constantFrom('none', 'extra')),
    })
    .map((f): Chunk => {
      const bytes = Buffer.alloc(16 + f.payload.length)
      bytes.writeUInt32LE(f.type >>> 0, 0)
      const len = Math.max(0, 16 + f.payload.length + f.lengthDelta)
      if (dialect === 'classic') {
        bytes.writeUInt16LE(len & 0xffff, 4)
        bytes.writeUInt16LE(f.flags >= 0 ? f.flags : f.hasFd ? 1 : 0, 6)
      } else {
        bytes.writeUInt32LE(((f.hasFd ? 0x80000000 : 0) | (len & 0x7fffffff)) >>> 0, 4)
      }
      bytes.writeUInt32LE(f.peerid >>> 0, 8)
      Buffer.from(f.payload).copy(bytes, 16)
      const withFd = f.sendFd === 'match' ? f.hasFd : f.sendFd === 'extra'
      return { bytes, withFd }
    })

const garbage = fc.record({ bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }), withFd: fc.boolean() })

/** A stream of frames, some broken, cut into writes at random places. */
const stream = fc.constantFrom('classic' as const, '2024' as const).chain((dialect) =>
  fc.record({
    dialect: fc.constant(dialect),
    strict: fc.boolean(),
    chunks: fc.array(fc.oneof({ weight: 5, arbitrary: frame(dialect) }, garbage), {
      minLength: 1,
      maxLength: 12,
    }),
    split: fc.nat(40),
  }),
)

describe('fuzz: random and mutated frames', () => {
  it('never crashes the process and never leaks an fd', async () => {
    const before = openFds()
    let protocolErrors = 0
    let delivered = 0
    await fc.assert(
      fc.asyncProperty(stream, async ({ dialect, strict, chunks, split }) => {
        const raw = rawPair({ dialect, strict })
        for (const t of [1, 2, 3])
          raw.channel.handle(t, (msg) => {
            delivered++
            msg.closeFd()
          })
        const done = raw.channel.dispatch().then(
          () => undefined,
          (e: unknown) => e,
        )
        for (const c of chunks) {
          // Split some writes in two so headers straddle reads.
          const at = split > 0 && split < c.bytes.length ? split : c.bytes.length
          raw.write(c.bytes.subarray(0, at), c.withFd ? devNull() : undefined)
          if (at < c.bytes.length) raw.write(c.bytes.subarray(at))
        }
        raw.end()
        const error = await done
        if (error !== undefined) {
          // Bad input is a ProtocolError; a peer that goes away mid-frame is not an error.
          expect(error).toBeInstanceOf(IpcmsgError)
          expect(error).not.toBeInstanceOf(PeerClosedError)
          expect(error).toBeInstanceOf(ProtocolError)
          protocolErrors++
        }
        expect(raw.channel.isOpen).toBe(false)
      }),
      { numRuns: 400, seed: Number(process.env.FUZZ_SEED ?? 20261127) },
    )
    // Both outcomes happened, so the generator reaches both paths.
    expect(protocolErrors).toBeGreaterThan(10)
    expect(delivered).toBeGreaterThan(10)
    expect(openFds()).toBe(before)
  })
})
