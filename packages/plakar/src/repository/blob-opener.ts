import { codecByName, codecsByTag } from '../compression/index.js'
import { blobIdFunction } from '../crypto/index.js'
import { Envelope } from '../format/index.js'
import type { BlobType } from './types.js'

/**
 * What a thread needs to open (decrypt, decompress, verify) the sealed blobs of a repository
 * by itself: the repository's keys and compression, as a structured-cloneable value that can
 * go to a worker thread in its workerData. Opening verifies every blob against its id, as
 * getBlob does: damaged bytes fail with REPO_CORRUPT naming the blob, never come back as data.
 */
export interface BlobOpenerSpec {
  readonly dataKey: Uint8Array | null
  readonly idKey: Uint8Array | null
  readonly compression: string | null
}

export type BlobOpener = (type: BlobType, id: Uint8Array, sealed: Uint8Array) => Uint8Array

/** The envelope (keys, id function, codecs) that seals and opens blobs of a repository with `spec`. */
export function envelopeFor(spec: BlobOpenerSpec): Envelope {
  return new Envelope({
    data: spec.dataKey,
    blobId: blobIdFunction(spec.idKey),
    codec: spec.compression ? codecByName(spec.compression) : null,
    codecs: codecsByTag(),
  })
}

/**
 * With `reuse`, a content may be a view of a buffer the opener reuses: valid only until the
 * next call (for a caller that writes each blob out before it opens the next).
 */
export function blobOpener(spec: BlobOpenerSpec, opts: { reuse?: boolean } = {}): BlobOpener {
  const envelope = envelopeFor(spec)
  const reuse = opts.reuse === true
  return (type, id, sealed) => envelope.openBlob(type, id, sealed, reuse)
}
