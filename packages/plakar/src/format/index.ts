/**
 * Format: the byte layouts of what a repository stores (blob and object envelopes, packs,
 * index objects). Specified in docs/plakar-format.md; every layout carries a version.
 */
export { ENTRY_SIZE, type PackEntry } from './entries.js'
export {
  BLOB_TYPES,
  type BlobType,
  blobTypeCode,
  blobTypeFromCode,
  Envelope,
  type EnvelopeKeys,
} from './envelope.js'
export { decodeIndex, decodeIndexEach, encodeIndex, INDEX_VERSION, type IndexedPack } from './index-object.js'
export {
  type BuiltPack,
  buildPack,
  finishPack,
  PACK_TRAILER,
  PACK_VERSION,
  packHeaderRange,
  readPackHeader,
} from './pack.js'
