import { RepositoryError } from '../errors.js'
import type { Chunker, ChunkerParams } from './chunker.js'
import { GEAR } from './gear.js'

/**
 * FastCDC (Xia et al., USENIX ATC 2016) with normalized chunking, level 2, over a 32-bit gear
 * hash: hash = (hash << 1) + GEAR[byte], reset at each chunk start. The first `min` bytes
 * are skipped (never a cut there); before `avg` a cut needs the top log2(avg)+2 bits of the
 * hash to be zero (harder), from `avg` on the top log2(avg)-2 bits (easier); at `max` the
 * chunk is cut regardless. This pulls chunk sizes towards avg. Name: `fastcdc-v1`.
 */
export const FASTCDC_NAME = 'fastcdc-v1'

export function validateChunkerParams(p: ChunkerParams): void {
  const pow2 = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0
  if (!pow2(p.avg) || p.avg < 256 || p.avg > 1 << 28)
    throw new RepositoryError('REPO_USAGE', `chunking: avg ${p.avg} must be a power of two in 256..2^28`)
  if (!Number.isInteger(p.min) || !Number.isInteger(p.max) || p.min < 64 || p.min > p.avg || p.max < p.avg)
    throw new RepositoryError(
      'REPO_USAGE',
      `chunking: need 64 <= min <= avg <= max (${p.min}/${p.avg}/${p.max})`,
    )
  if (p.max > 64 << 20) throw new RepositoryError('REPO_USAGE', `chunking: max ${p.max} exceeds 64 MiB`)
}

/** A mask of the `bits` most significant bits of a 32-bit word, as a signed int32. */
function topBits(bits: number): number {
  return bits >= 32 ? -1 : ((~0 >>> (32 - bits)) << (32 - bits)) | 0
}

export function fastcdc(params: ChunkerParams): Chunker {
  validateChunkerParams(params)
  const { min, avg, max } = params
  const bits = Math.log2(avg)
  const maskS = topBits(bits + 2)
  const maskL = topBits(bits - 2)
  const gear = GEAR
  return {
    name: FASTCDC_NAME,
    params: { min, avg, max },
    cut(data: Uint8Array, start: number, end: number, eof: boolean): number {
      let n = end - start
      if (n > max) n = max
      else if (n < max && !eof)
        throw new RepositoryError('REPO_USAGE', 'fastcdc: fewer than max bytes supplied before eof')
      if (n <= min) return n
      const normal = Math.min(n, avg)
      let hash = 0
      let i = start + min
      const stopS = start + normal
      const stopL = start + n
      for (; i < stopS; i++) {
        hash = ((hash << 1) + gear[data[i]!]!) | 0
        if ((hash & maskS) === 0) return i + 1 - start
      }
      for (; i < stopL; i++) {
        hash = ((hash << 1) + gear[data[i]!]!) | 0
        if ((hash & maskL) === 0) return i + 1 - start
      }
      return n
    },
  }
}
