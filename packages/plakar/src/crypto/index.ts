/**
 * Crypto: AES-256-GCM sealing, blob ids (HMAC-SHA256 / SHA-256), the scrypt KDF and the key
 * objects that wrap a repository's master key. All node:crypto, native speed.
 */
export {
  AEAD_NAME,
  AEAD_OVERHEAD,
  aeadOpen,
  aeadSeal,
  aeadSealParts,
  NONCE_LENGTH,
  TAG_LENGTH,
} from './aead.js'
export { type BlobIdFunction, blobIdFunction } from './blob-id.js'
export { DEFAULT_KDF, deriveKey, type KdfParams } from './kdf.js'
export {
  deriveMasterKeys,
  type KdfOptions,
  type KeyFile,
  type MasterKeys,
  newMasterKey,
  parseKeyFile,
  unwrapMasterKey,
  wrapMasterKey,
} from './keys.js'
