/**
 * Compression: codecs found by their persisted name (config) or their one-byte tag (payload).
 * Registered: `zstd` (tag 1). Tag 0 means stored uncompressed.
 */
import { RepositoryError } from '../errors.js'
import type { Codec } from './codec.js'
import { zstdCodec } from './zstd.js'

export { type Codec, TAG_NONE } from './codec.js'
export { ZSTD_LEVEL, zstdCodec } from './zstd.js'

const byName = new Map<string, () => Codec>([['zstd', () => zstdCodec()]])

export function registerCodec(name: string, factory: () => Codec): void {
  byName.set(name, factory)
}

/** A fresh codec instance (instances hold native contexts: use one per thread). */
export function codecByName(name: string): Codec {
  const factory = byName.get(name)
  if (!factory) throw new RepositoryError('REPO_UNSUPPORTED', `unknown compression "${name}"`)
  return factory()
}

/** Codecs by tag for reading: every registered codec, instantiated once per call. */
export function codecsByTag(): Map<number, Codec> {
  const out = new Map<number, Codec>()
  for (const factory of byName.values()) {
    const c = factory()
    out.set(c.tag, c)
  }
  return out
}
