import type { Store } from '../storage/store.js'
import type { BlobLocation } from './types.js'

/**
 * Reads sealed blobs out of packs. A restore asks for blobs in the order a backup wrote them,
 * so consecutive requests usually follow each other in one pack: once a request starts where
 * the previous one on that pack ended (or just after), the reader fetches a whole span ahead
 * in one range read and serves the next requests from it. One read instead of hundreds for a
 * run of small files, and one disk seek on a cold cache. Random access (one file's chunks
 * from here and there) and tree blobs still read exactly the blob.
 *
 * CONTRACT: returns exactly the `length` bytes at `offset` of the pack, or throws what the
 * store throws. It does not verify them: the caller opens (authenticates) every blob.
 * Spans never extend past the pack's blob data (`dataEnd`), so no read hits the trailer or
 * runs off the end.
 */
const SPAN = 4 << 20
const SPANS_KEPT = 2
const SMALL_BLOB = 128 << 10
/** A request this far past the previous one's end still counts as sequential. */
const SEQUENTIAL_GAP = 1 << 20

interface Span {
  readonly pack: string
  readonly start: number
  readonly end: number
  readonly bytes: Promise<Uint8Array>
}

export class PackReader {
  private spans: Span[] = []
  private readonly lastEnd = new Map<string, number>()

  constructor(
    private readonly store: Store,
    private readonly dataEnd: (pack: string) => number | undefined,
  ) {}

  async read(loc: BlobLocation): Promise<Uint8Array> {
    const { pack, offset, length } = loc
    const end = offset + length
    const span = this.spans.find((s) => s.pack === pack && s.start <= offset && end <= s.end)
    if (span) {
      const bytes = await span.bytes
      return bytes.subarray(offset - span.start, end - span.start)
    }
    const last = this.lastEnd.get(pack)
    this.remember(pack, end)
    const sequential = last !== undefined && offset >= last && offset - last <= SEQUENTIAL_GAP
    const limit = this.dataEnd(pack)
    // Spans are for runs of small blobs; a big blob is a big read already (and a span per
    // concurrent stream of big blobs would only hold memory). Tree blobs are written among the
    // data blobs, a few per pack: a walk of the tree that read spans for them would read
    // the data too (a restore's walk read ~60% of the repository that way).
    if (!sequential || loc.type !== 'data' || length >= SMALL_BLOB || limit === undefined || limit <= end)
      return this.store.get('pack', pack, offset, length)
    const spanEnd = Math.min(limit, offset + SPAN)
    const bytes = this.store.get('pack', pack, offset, spanEnd - offset)
    const fresh: Span = { pack, start: offset, end: spanEnd, bytes }
    this.spans.push(fresh)
    if (this.spans.length > SPANS_KEPT) this.spans.shift()
    // A failed span read must not be served again: forget it.
    bytes.catch(() => {
      this.spans = this.spans.filter((s) => s !== fresh)
    })
    return (await bytes).subarray(0, length)
  }

  private remember(pack: string, end: number): void {
    this.lastEnd.delete(pack)
    this.lastEnd.set(pack, end)
    if (this.lastEnd.size > 1024) this.lastEnd.delete(this.lastEnd.keys().next().value!)
  }
}
