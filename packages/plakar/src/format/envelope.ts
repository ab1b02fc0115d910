import { createHash, timingSafeEqual } from 'node:crypto'
import { type Codec, TAG_NONE } from '../compression/index.js'
import { aeadOpen, aeadSealParts } from '../crypto/aead.js'
import type { BlobIdFunction } from '../crypto/blob-id.js'
import { RepositoryError } from '../errors.js'

/**
 * How one payload is stored: a one-byte codec tag and the (maybe compressed) bytes, then,
 * in an encrypted repository, sealed with AES-256-GCM under the data key.
 *
 *   blob, encrypted:      nonce(12) || GCM(tag(1) || payload) || gcmTag(16); aad = "plakar/v1 blob" || type(1) || id(32)
 *   blob, not encrypted:  tag(1) || payload          (integrity: SHA-256 of the result is the id)
 *   object, encrypted:    nonce(12) || GCM(tag(1) || payload) || gcmTag(16); aad = "plakar/v1 " + label
 *   object, not encrypted: sha256(tag || payload)(32) || tag(1) || payload
 *
 * Opening checks everything it can (GCM tag, hash, codec, the blob id of the result) and
 * throws REPO_CORRUPT naming the thing, so damaged bytes never come back as data.
 */
/** A blob is file content (`data`) or an encoded directory / metadata object (`tree`). */
export type BlobType = 'data' | 'tree'

export const BLOB_TYPES: readonly BlobType[] = ['data', 'tree']

export function blobTypeCode(type: BlobType): number {
  const code = BLOB_TYPES.indexOf(type)
  if (code < 0) throw new RepositoryError('REPO_USAGE', `unknown blob type "${type}"`)
  return code
}

export function blobTypeFromCode(code: number): BlobType | undefined {
  return BLOB_TYPES[code]
}

const BLOB_AAD = Buffer.from('plakar/v1 blob')

export interface EnvelopeKeys {
  /** AES-256-GCM key; null for an unencrypted repository. */
  readonly data: Uint8Array | null
  readonly blobId: BlobIdFunction
  /** The codec writers use; null when the repository is not compressed. */
  readonly codec: Codec | null
  /** Every known codec by tag, for reading. */
  readonly codecs: ReadonlyMap<number, Codec>
}

export class Envelope {
  constructor(readonly keys: EnvelopeKeys) {}

  get encrypted(): boolean {
    return this.keys.data !== null
  }

  blobId(data: Uint8Array): Buffer {
    return this.keys.blobId(data)
  }

  /**
   * Compress when it shrinks the payload, then seal; the result as pieces to be joined.
   * CONTRACT: a piece may alias `payload` (unencrypted, stored as is) or the codec's scratch
   * buffer: copy the pieces before the payload's memory is reused or the next seal.
   */
  private packParts(payload: Uint8Array, aad: Uint8Array | null): Uint8Array[] {
    let tag = TAG_NONE
    let body = payload
    const codec = this.keys.codec
    if (codec && payload.length > 0) {
      // A scratch view is fine here: every caller copies the pieces before the next seal.
      const c = codec.compressScratch ? codec.compressScratch(payload) : codec.compress(payload)
      if (c.length < payload.length) {
        tag = codec.tag
        body = c
      }
    }
    const tagByte = Uint8Array.of(tag)
    if (this.keys.data && aad) return aeadSealParts(this.keys.data, aad, [tagByte, body])
    return [tagByte, body]
  }

  private pack(payload: Uint8Array, aad: Uint8Array | null): Uint8Array {
    return Buffer.concat(this.packParts(payload, aad))
  }

  private unpack(sealed: Uint8Array, aad: Uint8Array | null, what: string, scratch = false): Uint8Array {
    let plain: Uint8Array | null = sealed
    if (this.keys.data && aad) {
      plain = aeadOpen(this.keys.data, aad, sealed)
      if (!plain)
        throw new RepositoryError('REPO_CORRUPT', `${what}: authentication failed (damaged or altered)`)
    }
    if (plain.length < 1) throw new RepositoryError('REPO_CORRUPT', `${what}: empty payload`)
    const tag = plain[0]!
    const body = plain.subarray(1)
    if (tag === TAG_NONE) return body
    const codec = this.keys.codecs.get(tag)
    if (!codec) throw new RepositoryError('REPO_CORRUPT', `${what}: unknown codec tag ${tag}`)
    try {
      return scratch && codec.decompressScratch ? codec.decompressScratch(body) : codec.decompress(body)
    } catch (err) {
      throw new RepositoryError('REPO_CORRUPT', `${what}: ${codec.name} payload does not decode`, {
        cause: err,
      })
    }
  }

  sealBlob(type: BlobType, id: Uint8Array, raw: Uint8Array): Uint8Array {
    return this.pack(raw, this.keys.data ? blobAad(type, id) : null)
  }

  /** sealBlob as pieces (see packParts: a piece may alias `raw`). */
  sealBlobParts(type: BlobType, id: Uint8Array, raw: Uint8Array): Uint8Array[] {
    return this.packParts(raw, this.keys.data ? blobAad(type, id) : null)
  }

  /**
   * The blob's content, verified against its id. With `scratch`, the content may be a view of
   * the codec's scratch buffer, valid until the next open with scratch on this envelope.
   */
  openBlob(type: BlobType, id: Uint8Array, sealed: Uint8Array, scratch = false): Uint8Array {
    const what = `blob ${Buffer.from(id).toString('hex')}`
    const raw = this.unpack(sealed, this.keys.data ? blobAad(type, id) : null, what, scratch)
    const actual = this.keys.blobId(raw)
    if (actual.length !== id.length || !timingSafeEqual(actual, id))
      throw new RepositoryError('REPO_CORRUPT', `${what}: content does not match its id`)
    return raw
  }

  /**
   * Proves a sealed blob genuine without the work of opening it where the key allows: with
   * encryption, the AEAD tag binds type, id and bytes (only a key holder, who computed the
   * id, could seal them); without, the content is decoded and hashed as openBlob does.
   * Throws REPO_CORRUPT as openBlob does.
   */
  verifyBlob(type: BlobType, id: Uint8Array, sealed: Uint8Array): void {
    if (!this.keys.data) {
      this.openBlob(type, id, sealed)
      return
    }
    if (!aeadOpen(this.keys.data, blobAad(type, id), sealed))
      throw new RepositoryError(
        'REPO_CORRUPT',
        `blob ${Buffer.from(id).toString('hex')}: authentication failed (damaged or altered)`,
      )
  }

  sealObject(label: string, payload: Uint8Array): Uint8Array {
    if (this.keys.data) return this.pack(payload, Buffer.from(`plakar/v1 ${label}`))
    const inner = this.pack(payload, null)
    const out = Buffer.allocUnsafe(32 + inner.length)
    createHash('sha256').update(inner).digest().copy(out, 0)
    out.set(inner, 32)
    return out
  }

  openObject(label: string, sealed: Uint8Array, what: string): Uint8Array {
    if (this.keys.data) return this.unpack(sealed, Buffer.from(`plakar/v1 ${label}`), what)
    if (sealed.length < 33) throw new RepositoryError('REPO_CORRUPT', `${what}: truncated`)
    const inner = sealed.subarray(32)
    const hash = createHash('sha256').update(inner).digest()
    if (!timingSafeEqual(hash, sealed.subarray(0, 32)))
      throw new RepositoryError('REPO_CORRUPT', `${what}: checksum mismatch (damaged)`)
    return this.unpack(inner, null, what)
  }
}

function blobAad(type: BlobType, id: Uint8Array): Buffer {
  const aad = Buffer.allocUnsafe(BLOB_AAD.length + 1 + id.length)
  BLOB_AAD.copy(aad, 0)
  aad[BLOB_AAD.length] = blobTypeCode(type)
  aad.set(id, BLOB_AAD.length + 1)
  return aad
}
