import type { BlobType } from '../format/index.js'

/**
 * The repository layer: blobs over a Store.
 *
 * A blob is a chunk of file content (`data`) or an encoded directory / metadata object
 * (`tree`). Blobs are identified by a keyed MAC of their plaintext (HMAC-SHA256 under a
 * key derived from the master key; plain SHA-256 when the repository is not encrypted),
 * compressed, encrypted, and packed into pack objects; index objects map blob id -> pack,
 * offset, length. Snapshots are separate objects that name their root tree blob.
 *
 * CONTRACT (for the snapshot layer and the commands)
 * - putBlob dedups: if a blob with that id exists in the repository (or is pending in this
 *   writer), nothing is written and `stored` is false.
 * - Blobs put by this writer become visible to other processes only after flush(), which
 *   writes the pending packs first and then an index object naming them. A writer killed
 *   before flush leaves only unreferenced packs (reclaimable), never a broken index.
 * - putSnapshot writes the snapshot object last, after flush(): a snapshot is visible only
 *   if every blob it references is durable and indexed.
 * - getBlob verifies the MAC/id of what it returns; damaged data fails with a RepositoryError
 *   (code REPO_CORRUPT) naming the blob, never returns garbage.
 */
export type { BlobType }

/** 32-byte blob id. Hex form (64 chars) is used in indexes and messages. */
export type BlobId = Uint8Array

export interface PutResult {
  readonly id: BlobId
  /** false when the blob was already present (deduplicated). */
  readonly stored: boolean
  /** bytes written to the pack for this blob (after compression+encryption); 0 if deduped. */
  readonly packedSize: number
}

export interface BlobLocation {
  readonly pack: string
  readonly type: BlobType
  readonly offset: number
  readonly length: number
  readonly rawLength: number
}

export interface RepositoryConfig {
  readonly version: number
  readonly id: string
  readonly createdAt: string
  readonly chunking: {
    readonly algorithm: string
    readonly min: number
    readonly avg: number
    readonly max: number
  }
  readonly compression: string | null
  readonly encryption: string | null
  readonly packSize: number
}
