import { randomBytes } from 'node:crypto'
import { isPlakarError } from '@poolp/plakar'
import { describe, expect, it } from 'vitest'
import { codecByName, codecsByTag, zstdCodec } from '../../src/compression/index.js'

describe('zstd codec', () => {
  const codec = zstdCodec()

  it('round-trips text, random and empty payloads', () => {
    const text = Buffer.from('function f(x) { return x + 1 }\n'.repeat(5000))
    for (const data of [text, randomBytes(100_000), Buffer.alloc(0)]) {
      const c = codec.compress(data)
      expect(Buffer.from(codec.decompress(c)).equals(data)).toBe(true)
    }
    expect(codec.compress(text).length).toBeLessThan(text.length / 20)
  })

  it('throws on bytes that are not a zstd frame', () => {
    expect(() => codec.decompress(Buffer.from('definitely not zstd'))).toThrow()
    const c = Buffer.from(codec.compress(Buffer.from('hello world '.repeat(1000))))
    expect(() => codec.decompress(c.subarray(0, c.length - 4))).toThrow()
  })

  it('decompresses into its scratch buffer what decompress gives, and throws on damage', () => {
    const text = Buffer.from('scratch '.repeat(20_000))
    for (const data of [text, randomBytes(70_000), Buffer.alloc(0), Buffer.from('x')]) {
      const out = codec.decompressScratch!(codec.compress(data))
      expect(Buffer.from(out).equals(data)).toBe(true)
    }
    const a = codec.decompressScratch!(codec.compress(Buffer.from('a'.repeat(5000))))
    const b = codec.decompressScratch!(codec.compress(Buffer.from('b'.repeat(5000))))
    // One reused buffer: the first view now shows the second content.
    expect(a.buffer).toBe(b.buffer)
    const c = Buffer.from(codec.compress(Buffer.from('hello world '.repeat(1000))))
    expect(() => codec.decompressScratch!(c.subarray(0, c.length - 4))).toThrow()
  })

  it('is found by its persisted name and tag', () => {
    expect(codecByName('zstd').tag).toBe(1)
    expect(codecsByTag().get(1)?.name).toBe('zstd')
    try {
      codecByName('brotli')
      expect.unreachable()
    } catch (err) {
      expect(isPlakarError(err, 'REPO_UNSUPPORTED')).toBe(true)
    }
  })
})
