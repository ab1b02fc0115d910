import { createHash, randomBytes } from 'node:crypto'
import { isPlakarError } from '@poolp/plakar'
import { describe, expect, it } from 'vitest'
import { chunkerFor, fastcdc, GEAR, GEAR_SEED } from '../../src/chunking/index.js'

function xorshiftBytes(n: number, seed = 2463534242): Buffer {
  const buf = Buffer.alloc(n)
  let x = seed
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    buf[i] = x & 0xff
  }
  return buf
}

function cutAll(data: Uint8Array, params = { min: 4096, avg: 16384, max: 65536 }): number[] {
  const c = fastcdc(params)
  const cuts: number[] = []
  for (let s = 0; s < data.length; ) {
    const n = c.cut(data, s, data.length, true)
    cuts.push(n)
    s += n
  }
  return cuts
}

describe('fastcdc-v1', () => {
  it('derives its gear table as documented', () => {
    for (const i of [0, 1, 127, 255]) {
      const d = createHash('sha256').update(GEAR_SEED).update(Uint8Array.of(i)).digest()
      expect(GEAR[i]).toBe(d.readInt32BE(0))
    }
    // Frozen: a change here changes every chunk boundary of every repository.
    expect([...GEAR.slice(0, 4)].map((x) => (x >>> 0).toString(16))).toEqual([
      '24e5c89a',
      'f2c1dd21',
      'd02fc322',
      '8a59db15',
    ])
  })

  it('cuts a known input at known boundaries', () => {
    const cuts = cutAll(xorshiftBytes(1 << 20))
    expect(cuts.length).toBe(57)
    expect(cuts.slice(0, 12)).toEqual([
      17080, 20152, 16534, 17178, 18473, 22032, 16321, 15272, 18555, 16655, 18127, 20383,
    ])
  })

  it('keeps every chunk within [min, max] and covers the input exactly', () => {
    const data = randomBytes(3 << 20)
    const params = { min: 2048, avg: 8192, max: 32768 }
    const cuts = cutAll(data, params)
    expect(cuts.reduce((a, b) => a + b, 0)).toBe(data.length)
    for (const n of cuts.slice(0, -1)) {
      expect(n).toBeGreaterThanOrEqual(params.min)
      expect(n).toBeLessThanOrEqual(params.max)
    }
    const mean = data.length / cuts.length
    expect(mean).toBeGreaterThan(params.avg * 0.7)
    expect(mean).toBeLessThan(params.avg * 1.6)
  })

  it('cuts at max on data with no boundary (all zeros)', () => {
    expect(cutAll(Buffer.alloc(200_000))).toEqual([65536, 65536, 65536, 200_000 - 3 * 65536])
  })

  it('resynchronises after an insertion: only chunks near the edit change', () => {
    const data = xorshiftBytes(2 << 20, 7)
    const edited = Buffer.concat([
      data.subarray(0, 500_000),
      Buffer.from('inserted bytes'),
      data.subarray(500_000),
    ])
    const hashes = (buf: Buffer) => {
      const out = new Set<string>()
      let s = 0
      for (const n of cutAll(buf)) {
        out.add(
          createHash('sha256')
            .update(buf.subarray(s, s + n))
            .digest('hex'),
        )
        s += n
      }
      return out
    }
    const a = hashes(data)
    const b = hashes(edited)
    const changed = [...b].filter((h) => !a.has(h)).length
    expect(changed).toBeGreaterThan(0)
    expect(changed).toBeLessThanOrEqual(2)
  })

  it('depends only on the bytes from the chunk start (can resume at a boundary)', () => {
    const data = xorshiftBytes(1 << 20, 99)
    const cuts = cutAll(data)
    const offset = cuts.slice(0, 10).reduce((a, b) => a + b, 0)
    expect(cutAll(data.subarray(offset))).toEqual(cuts.slice(10))
  })

  it('refuses a short buffer before eof and bad parameters', () => {
    const c = chunkerFor('fastcdc-v1', { min: 4096, avg: 16384, max: 65536 })
    expect(() => c.cut(Buffer.alloc(1000), 0, 1000, false)).toThrow(/fewer than max/)
    for (const p of [
      { min: 4096, avg: 10000, max: 65536 },
      { min: 32768, avg: 16384, max: 65536 },
      { min: 4096, avg: 16384, max: 8192 },
    ])
      expect(() => fastcdc(p)).toThrow(/chunking/)
    try {
      chunkerFor('rabin', { min: 1, avg: 2, max: 3 })
      expect.unreachable()
    } catch (err) {
      expect(isPlakarError(err, 'REPO_UNSUPPORTED')).toBe(true)
    }
  })
})
