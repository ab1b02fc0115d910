import { randomBytes } from 'node:crypto'
import { FASTCDC_NAME, validateChunkerParams } from '../chunking/index.js'
import { codecByName } from '../compression/index.js'
import { AEAD_NAME } from '../crypto/index.js'
import { RepositoryError } from '../errors.js'
import type { RepositoryConfig } from './types.js'

/**
 * The config object (kind `config`, name `config`): plain JSON, readable before any key is
 * opened, since it says whether there is a key to open. Its SHA-256 is sealed inside every
 * key object, so in an encrypted repository a modified config is detected at open.
 */
export const FORMAT_VERSION = 1

/**
 * Defaults, measured on this project's machine (docs/plakar-format.md, "Choices"): chunks of
 * 256 KiB / 512 KiB / 2 MiB (the modified corpus adds 27% fewer bytes than with restic's
 * 512 KiB / 1 MiB / 8 MiB, for about one point of compression on text; max at 4x avg is rarely
 * reached with normalized chunking, and every worker buffer is sized from it); packs of ~8 MiB
 * (each open or in-flight pack is a buffer: 16 MiB packs cost ~30 MB more peak RSS).
 */
export const DEFAULT_CHUNKING = {
  algorithm: FASTCDC_NAME,
  min: 256 << 10,
  avg: 512 << 10,
  max: 2 << 20,
} as const
export const DEFAULT_PACK_SIZE = 8 << 20

export interface ConfigOptions {
  readonly encrypted: boolean
  readonly compression: boolean
  readonly chunking?: Partial<RepositoryConfig['chunking']>
  readonly packSize?: number
}

export function newConfig(opts: ConfigOptions): RepositoryConfig {
  const chunking = { ...DEFAULT_CHUNKING, ...opts.chunking }
  const config: RepositoryConfig = {
    version: FORMAT_VERSION,
    id: randomBytes(16).toString('hex'),
    createdAt: new Date().toISOString(),
    chunking,
    compression: opts.compression ? 'zstd' : null,
    encryption: opts.encrypted ? AEAD_NAME : null,
    packSize: opts.packSize ?? DEFAULT_PACK_SIZE,
  }
  checkFields(config)
  return config
}

export function encodeConfig(config: RepositoryConfig): Uint8Array {
  return Buffer.from(`${JSON.stringify(config, null, 2)}\n`)
}

/**
 * Reads the config's JSON and version only: enough to know whether a key must be opened. In
 * an encrypted repository the key then vouches for the bytes (its sealed hash) before
 * checkConfig judges the fields, so damage is reported as damage, not as odd settings.
 */
export function parseConfig(bytes: Uint8Array): RepositoryConfig {
  let config: RepositoryConfig
  try {
    config = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch {
    throw new RepositoryError('REPO_CORRUPT', 'config is damaged (not valid JSON)')
  }
  if (typeof config !== 'object' || config === null || typeof config.version !== 'number')
    throw new RepositoryError('REPO_CORRUPT', 'config is damaged (no version)')
  if (config.version > FORMAT_VERSION)
    throw new RepositoryError(
      'REPO_UNSUPPORTED',
      `repository format version ${config.version} is newer than this plakar supports (${FORMAT_VERSION})`,
    )
  return config
}

/** Judges every field; throws REPO_CORRUPT / REPO_UNSUPPORTED saying the config may be damaged. */
export function checkConfig(c: RepositoryConfig): void {
  try {
    checkFields(c)
  } catch (err) {
    if (err instanceof RepositoryError)
      throw new RepositoryError(
        err.code === 'REPO_USAGE' ? 'REPO_CORRUPT' : err.code,
        `config is damaged or from a newer plakar: ${err.message}`,
      )
    throw err
  }
}

function checkFields(c: RepositoryConfig): void {
  if (typeof c.id !== 'string' || !/^[0-9a-f]{32}$/.test(c.id))
    throw new RepositoryError('REPO_CORRUPT', 'bad repository id')
  if (typeof c.chunking !== 'object' || c.chunking === null)
    throw new RepositoryError('REPO_CORRUPT', 'no chunking')
  if (c.chunking.algorithm !== FASTCDC_NAME)
    throw new RepositoryError('REPO_UNSUPPORTED', `unknown chunking "${c.chunking.algorithm}"`)
  validateChunkerParams(c.chunking)
  if (c.compression !== null) codecByName(c.compression)
  if (c.encryption !== null && c.encryption !== AEAD_NAME)
    throw new RepositoryError('REPO_UNSUPPORTED', `unknown encryption "${c.encryption}"`)
  if (!Number.isInteger(c.packSize) || c.packSize < 1 << 16 || c.packSize > 1 << 30)
    throw new RepositoryError('REPO_CORRUPT', `pack size ${c.packSize} out of range`)
}
