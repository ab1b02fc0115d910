import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'
import { RepositoryError } from '../errors.js'
import { aeadOpen, aeadSeal } from './aead.js'
import { DEFAULT_KDF, deriveKey, type KdfParams } from './kdf.js'

/**
 * Keys of an encrypted repository.
 *
 * A random 32-byte master key is made at create time. Working keys come from it by
 * HKDF-SHA256 (salt = the repository id, info = a purpose label), so no key serves two
 * purposes: `data` encrypts blobs and objects, `id` keys the HMAC that names blobs.
 *
 * A key object wraps the master key under a passphrase: scrypt(passphrase, salt) gives 64
 * bytes, the first 32 wrap (AES-256-GCM) and the last 32 key a canary HMAC. A wrong
 * passphrase fails the canary, which is told apart from a damaged key object (canary right,
 * wrap broken). The wrapped payload also carries SHA-256 of the config object, so a config
 * edited behind the repository's back is detected at open.
 */
export interface MasterKeys {
  readonly data: Buffer
  readonly id: Buffer
}

export interface KeyFile {
  readonly version: 1
  readonly kdf: KdfParams
  /** base64 HMAC-SHA256(canaryKey, CANARY_LABEL), first 16 bytes */
  readonly canary: string
  /** base64 AES-256-GCM(wrapKey, master(32) || sha256(config)(32)), aad WRAP_LABEL */
  readonly wrapped: string
}

const CANARY_LABEL = 'plakar/v1 key canary'
const WRAP_LABEL = Buffer.from('plakar/v1 key wrap')

export function deriveMasterKeys(master: Uint8Array, repositoryId: string): MasterKeys {
  const salt = Buffer.from(repositoryId, 'hex')
  const sub = (info: string) => Buffer.from(hkdfSync('sha256', master, salt, info, 32))
  return { data: sub('plakar/v1 data aes-256-gcm'), id: sub('plakar/v1 blob-id hmac-sha256') }
}

export function newMasterKey(): Buffer {
  return randomBytes(32)
}

export type KdfOptions = Partial<Pick<KdfParams, 'N' | 'r' | 'p'>>

export async function wrapMasterKey(
  passphrase: Uint8Array,
  master: Uint8Array,
  config: Uint8Array,
  kdfOptions: KdfOptions = {},
): Promise<Uint8Array> {
  const kdf: KdfParams = { ...DEFAULT_KDF, ...kdfOptions, salt: randomBytes(16).toString('base64') }
  const kek = await deriveKey(passphrase, kdf, 64)
  const configHash = createHash('sha256').update(config).digest()
  const file: KeyFile = {
    version: 1,
    kdf,
    canary: canary(kek.subarray(32)).toString('base64'),
    wrapped: Buffer.from(aeadSeal(kek.subarray(0, 32), WRAP_LABEL, [master, configHash])).toString('base64'),
  }
  return Buffer.from(JSON.stringify(file))
}

function canary(key: Uint8Array): Buffer {
  return createHmac('sha256', key).update(CANARY_LABEL).digest().subarray(0, 16)
}

export function parseKeyFile(name: string, bytes: Uint8Array): KeyFile {
  let file: KeyFile
  try {
    file = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch {
    throw new RepositoryError('REPO_CORRUPT', `key ${name}: not valid JSON`)
  }
  if (typeof file !== 'object' || file === null || file.version !== 1)
    throw new RepositoryError('REPO_UNSUPPORTED', `key ${name}: unsupported key version`)
  if (typeof file.canary !== 'string' || typeof file.wrapped !== 'string' || typeof file.kdf !== 'object')
    throw new RepositoryError('REPO_CORRUPT', `key ${name}: missing fields`)
  return file
}

/**
 * The master key, or null when the passphrase is not this key's (canary mismatch).
 * Throws REPO_CORRUPT when the canary matches but the wrapped key or config hash does not.
 */
export async function unwrapMasterKey(
  name: string,
  file: KeyFile,
  passphrase: Uint8Array,
  config: Uint8Array,
): Promise<Buffer | null> {
  const kek = await deriveKey(passphrase, file.kdf, 64)
  const expected = Buffer.from(file.canary, 'base64')
  const actual = canary(kek.subarray(32))
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return null
  const plain = aeadOpen(kek.subarray(0, 32), WRAP_LABEL, Buffer.from(file.wrapped, 'base64'))
  if (plain?.length !== 64) throw new RepositoryError('REPO_CORRUPT', `key ${name}: wrapped key damaged`)
  const configHash = createHash('sha256').update(config).digest()
  if (!timingSafeEqual(plain.subarray(32), configHash))
    throw new RepositoryError(
      'REPO_CORRUPT',
      'config is damaged or was modified (it does not match the repository key)',
    )
  return plain.subarray(0, 32)
}
