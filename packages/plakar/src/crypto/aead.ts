import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

/**
 * AES-256-GCM with a random 96-bit nonce per message. Sealed form: nonce(12) || ciphertext ||
 * tag(16). Random nonces keep writers in different processes independent (no counter to
 * share); the NIST bound of 2^32 messages per key is far above what a repository holds.
 * `aad` binds a message to its role (a blob id, an object kind), so bytes cannot be moved
 * from one place to another undetected.
 */
export const AEAD_NAME = 'aes-256-gcm'
export const NONCE_LENGTH = 12
export const TAG_LENGTH = 16
export const AEAD_OVERHEAD = NONCE_LENGTH + TAG_LENGTH

/** Seals the concatenation of `parts` (saves joining a one-byte header to a payload). */
export function aeadSeal(key: Uint8Array, aad: Uint8Array, parts: readonly Uint8Array[]): Uint8Array {
  const nonce = randomBytes(NONCE_LENGTH)
  const cipher = createCipheriv('aes-256-gcm', key, nonce)
  cipher.setAAD(aad)
  let length = 0
  for (const p of parts) length += p.length
  const out = Buffer.allocUnsafe(NONCE_LENGTH + length + TAG_LENGTH)
  nonce.copy(out, 0)
  let at = NONCE_LENGTH
  for (const p of parts) {
    // update() on a slice of at most the input's length; copy into place.
    const enc = cipher.update(p)
    enc.copy(out, at)
    at += enc.length
  }
  const fin = cipher.final()
  fin.copy(out, at)
  at += fin.length
  cipher.getAuthTag().copy(out, at)
  return out
}

/** The plaintext, or null when the tag does not verify (wrong key, or damaged bytes). */
export function aeadOpen(key: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Buffer | null {
  if (sealed.length < AEAD_OVERHEAD) return null
  const nonce = sealed.subarray(0, NONCE_LENGTH)
  const tag = sealed.subarray(sealed.length - TAG_LENGTH)
  const decipher = createDecipheriv('aes-256-gcm', key, nonce)
  decipher.setAAD(aad)
  decipher.setAuthTag(tag)
  const body = decipher.update(sealed.subarray(NONCE_LENGTH, sealed.length - TAG_LENGTH))
  try {
    const fin = decipher.final()
    return fin.length === 0 ? body : Buffer.concat([body, fin])
  } catch {
    return null
  }
}
