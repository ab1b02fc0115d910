/**
 * Objects stored as segments: the layout the SQL backends share (sqlite layout 2,
 * postgres layout 1; docs/plakar-storage.md). An object's bytes are its segments' data in
 * `start` order, tiling [0, size) exactly. Readers never assume the writer's segment size:
 * a range is assembled from whatever rows overlap it, and a gap is damage, reported as
 * STORAGE_SHORT_READ and never filled.
 */
import { StorageError } from '../errors.js'

export interface Segment {
  /** Offset within the object of data[0]. */
  readonly start: number
  readonly data: Uint8Array
}

/**
 * Bytes [start, end) of an object from `rows`, the segments overlapping that range in
 * `start` order (a row may begin before `start`). `what` names the object in the error.
 */
export function assembleSegments(rows: Iterable<Segment>, start: number, end: number, what: string): Buffer {
  const out = Buffer.allocUnsafe(end - start)
  if (end === start) return out
  let pos = start
  for (const seg of rows) {
    if (seg.start > pos) break
    const from = pos - seg.start
    const to = Math.min(seg.data.byteLength, end - seg.start)
    if (to > from) {
      out.set(seg.data.subarray(from, to), pos - start)
      pos += to - from
    }
    if (pos === end) return out
  }
  throw new StorageError('STORAGE_SHORT_READ', `${what} lacks bytes ${pos}..${end}`)
}
