/**
 * A small seeded PRNG (xoshiro128**) so that the corpus is a pure function of its seed:
 * the same seed gives the same bytes on every machine and every Node version.
 * Math.random is never used anywhere in the corpus.
 */

/** murmur3's finaliser: spreads a 32-bit value so nearby seeds give unrelated streams. */
function mix32(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** Derives a sub-seed from a seed and a path of integers or strings (stable across runs). */
export function deriveSeed(seed: number, ...parts: (number | string)[]): number {
  let h = mix32(seed ^ 0x9e3779b9)
  for (const part of parts) {
    if (typeof part === 'number') {
      h = mix32(h ^ mix32(part + 0x7f4a7c15))
    } else {
      for (let i = 0; i < part.length; i++) h = mix32(h ^ (part.charCodeAt(i) + (i << 16)))
    }
  }
  return h
}

export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor(seed: number) {
    this.a = mix32(seed + 0x6a09e667)
    this.b = mix32(seed + 0xbb67ae85)
    this.c = mix32(seed + 0x3c6ef372)
    this.d = mix32(seed + 0xa54ff53a) | 1
  }

  /** A uniform 32-bit unsigned integer. */
  next(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0
    const t = this.b << 9
    this.c ^= this.a
    this.d ^= this.b
    this.b ^= this.c
    this.a ^= this.d
    this.c ^= t
    this.d = rotl(this.d, 11)
    return result
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.next() / 4294967296
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n)
  }

  /** Uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1)
  }

  /** Log-uniform integer in [lo, hi]: as many files of 1-2 KiB as of 32-64 KiB. */
  logRange(lo: number, hi: number): number {
    return Math.min(hi, Math.floor(Math.exp(Math.log(lo) + this.float() * (Math.log(hi + 1) - Math.log(lo)))))
  }

  /** Zipf-like index in [0, n): low indexes are much more frequent, as words are in text. */
  zipf(n: number): number {
    return Math.min(n - 1, Math.floor(Math.exp(this.float() * Math.log(n + 1))) - 1)
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!
  }

  chance(p: number): boolean {
    return this.float() < p
  }

  /** Fills `out` with uniform bytes (incompressible content). */
  fill(out: Uint8Array): void {
    let i = 0
    for (; i + 4 <= out.length; i += 4) {
      const v = this.next()
      out[i] = v
      out[i + 1] = v >>> 8
      out[i + 2] = v >>> 16
      out[i + 3] = v >>> 24
    }
    for (; i < out.length; i++) out[i] = this.next()
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}
