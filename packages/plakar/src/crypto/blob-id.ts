import { createHash, createHmac } from 'node:crypto'

/**
 * Blob ids: HMAC-SHA256 under the repository's id key when encrypted (so ids reveal nothing
 * about content to someone without the key), plain SHA-256 when not. 32 bytes either way.
 */
export type BlobIdFunction = (data: Uint8Array) => Buffer

export function blobIdFunction(idKey: Uint8Array | null): BlobIdFunction {
  if (idKey) return (data) => createHmac('sha256', idKey).update(data).digest()
  return (data) => createHash('sha256').update(data).digest()
}
