/**
 * The compression seam. A codec is registered under a stable persisted name (written in the
 * repository config) and a one-byte tag (written in front of every stored payload, so a
 * reader never needs the config to decode a blob). Tag 0 is reserved for "stored as is".
 *
 * CONTRACT
 * - compress(data) returns a new buffer; decompress(compress(x)) equals x byte for byte.
 * - decompress(data, rawLength) throws on malformed input (never returns garbage silently)
 *   and may use rawLength, when known, to size its output; the result is checked by the
 *   caller against the blob id anyway.
 * - Codecs are stateless from the caller's view and safe to use in any worker thread.
 */
export interface Codec {
  readonly name: string
  readonly tag: number
  compress(data: Uint8Array): Uint8Array
  decompress(data: Uint8Array): Uint8Array
  /**
   * Optional, for the hot path: compresses into a scratch buffer the codec owns and returns
   * a view of it, valid only until the next call on this codec instance (copy it first).
   */
  compressScratch?(data: Uint8Array): Uint8Array
  /**
   * Optional, for the hot path: decompress as decompress does, into a scratch buffer the
   * codec owns, and return a view of it, valid only until the next call on this codec
   * instance (a restore writes each blob out before it opens the next).
   */
  decompressScratch?(data: Uint8Array): Uint8Array
}

/** Tag of a payload stored uncompressed (the codec did not shrink it, or none is configured). */
export const TAG_NONE = 0
