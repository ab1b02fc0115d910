/**
 * The chunker seam. A chunker cuts a byte stream into content-defined chunks so that an
 * insertion early in a file moves only the boundaries near it. Chunkers are registered under
 * a stable persisted name (the repository config names the one its writers must use).
 *
 * CONTRACT
 * - cut(data, start, end, eof) returns the length of the chunk that starts at data[start]:
 *   a number in [1, max], and <= end - start. It depends only on the bytes from `start`, never
 *   on what came before, so chunking can resume at any boundary it returned.
 * - The caller supplies at least `max` bytes (end - start >= max) unless eof is true; with eof
 *   true the rest of the stream is data[start..end) and the last chunk may be shorter than min.
 * - end - start must be > 0.
 */
export interface ChunkerParams {
  readonly min: number
  readonly avg: number
  readonly max: number
}

export interface Chunker {
  readonly name: string
  readonly params: ChunkerParams
  cut(data: Uint8Array, start: number, end: number, eof: boolean): number
}

export type ChunkerFactory = (params: ChunkerParams) => Chunker
