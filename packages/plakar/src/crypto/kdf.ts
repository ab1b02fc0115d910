import { scrypt } from 'node:crypto'
import { RepositoryError } from '../errors.js'

/**
 * Passphrase -> key-encryption key, with scrypt (memory-hard; node:crypto, native). Defaults
 * N=2^15, r=8, p=1: 32 MiB of memory (restic caps its scrypt at 60 MiB) and about 0.1 s on
 * this project's 2-core machine when quiet (0.3-0.4 s under load). Every command pays it
 * once: 4x the work (p=4, ~0.4 s) would be most of a no-change backup's budget (a quarter of
 * restic's time), and a larger N would set every command's peak memory (N=2^17 put `ls` at
 * 186 MB RSS). A guess still costs an attacker 32 MiB and the same time. The parameters and
 * salt are stored in each key object, so they can be raised later without breaking old keys.
 */
export interface KdfParams {
  readonly algorithm: 'scrypt'
  readonly N: number
  readonly r: number
  readonly p: number
  /** base64 of 16+ random bytes */
  readonly salt: string
}

export const DEFAULT_KDF = { algorithm: 'scrypt', N: 1 << 15, r: 8, p: 1 } as const

/** Bounds that a key object may ask for: a hostile key must not make open() eat the machine. */
function checkParams(k: KdfParams): void {
  const ok =
    k.algorithm === 'scrypt' &&
    Number.isInteger(k.N) &&
    k.N >= 2 &&
    (k.N & (k.N - 1)) === 0 &&
    k.N <= 1 << 22 &&
    Number.isInteger(k.r) &&
    k.r >= 1 &&
    k.r <= 32 &&
    Number.isInteger(k.p) &&
    k.p >= 1 &&
    k.p <= 16 &&
    128 * k.N * k.r <= 1 << 30
  if (!ok) throw new RepositoryError('REPO_UNSUPPORTED', `unsupported key derivation parameters`)
}

export function deriveKey(passphrase: Uint8Array, k: KdfParams, length: number): Promise<Buffer> {
  checkParams(k)
  const salt = Buffer.from(k.salt, 'base64')
  return new Promise((resolve, reject) => {
    scrypt(
      passphrase,
      salt,
      length,
      { N: k.N, r: k.r, p: k.p, maxmem: 256 * k.N * k.r + (1 << 20) },
      (err, key) => (err ? reject(err) : resolve(key)),
    )
  })
}
