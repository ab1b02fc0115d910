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

// Nonces are drawn from the CSPRNG in batches: one randomBytes call per blob costs a few µs,
// as much as encrypting a small file. Each nonce is still 96 fresh random bits, used once.
const NONCE_BATCH = 1024
let noncePool = Buffer.alloc(0)
let nonceAt = 0

function nextNonce(): Buffer {
  if (nonceAt + NONCE_LENGTH > noncePool.length) {
    noncePool = randomBytes(NONCE_LENGTH * NONCE_BATCH)
    nonceAt = 0
  }
  const nonce = noncePool.subarray(nonceAt, nonceAt + NONCE_LENGTH)
  nonceAt += NONCE_LENGTH
  return nonce
}

/**
 * Seals the concatenation of `parts`, returning the sealed message as a list of pieces
 * (nonce, ciphertext pieces, tag) so that a caller copying into a larger buffer anyway
 * (a pack, a message to the main thread) copies once. Pieces never alias the input.
 */
export function aeadSealParts(key: Uint8Array, aad: Uint8Array, parts: readonly Uint8Array[]): Uint8Array[] {
  const nonce = nextNonce()
  const cipher = createCipheriv('aes-256-gcm', key, nonce)
  cipher.setAAD(aad)
  const out: Uint8Array[] = [nonce]
  for (const p of parts) out.push(cipher.update(p))
  const fin = cipher.final()
  if (fin.length > 0) out.push(fin)
  out.push(cipher.getAuthTag())
  return out
}

/** Seals the concatenation of `parts` into one buffer: nonce || ciphertext || tag. */
export function aeadSeal(key: Uint8Array, aad: Uint8Array, parts: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(aeadSealParts(key, aad, parts))
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
