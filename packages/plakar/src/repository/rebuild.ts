import { isPlakarError, RepositoryError } from '../errors.js'
import {
  decodeIndex,
  type Envelope,
  encodeIndex,
  type IndexedPack,
  PACK_TRAILER,
  packHeaderRange,
  readPackHeader,
} from '../format/index.js'
import type { Store } from '../storage/store.js'

/**
 * Reads one pack's own header: the blobs it holds, without any index. Verifies the header
 * (GCM tag or hash) and that every entry lies inside the pack.
 */
export async function readPackEntries(
  store: Store,
  envelope: Envelope,
  name: string,
  knownSize?: number,
): Promise<IndexedPack> {
  const size = knownSize ?? (await store.stat('pack', name))
  if (size === undefined || size < PACK_TRAILER)
    throw new RepositoryError('REPO_CORRUPT', `pack ${name}: missing or too short`)
  const trailer = await store.get('pack', name, size - PACK_TRAILER, PACK_TRAILER)
  const range = packHeaderRange(name, trailer, size)
  const header = await store.get('pack', name, range.offset, range.length)
  return { pack: name, entries: readPackHeader(envelope, name, header, range.offset) }
}

export interface RebuildResult {
  /** packs read */
  readonly packs: number
  /** packs no index named, now named by the new index object */
  readonly added: number
  readonly blobs: number
  /** name of the index object written, or null when every pack was already indexed */
  readonly index: string | null
  /** packs that could not be read, with the reason (left alone) */
  readonly damaged: readonly { readonly pack: string; readonly error: string }[]
}

/**
 * Rebuilds the index from the packs alone: reads every pack's header and writes one new
 * index object naming the packs that no existing index names (`known` says which are).
 * Existing index objects are left alone (they are immutable; a later prune may drop them).
 * Memory grows with the number of unindexed packs only.
 */
export async function rebuildIndex(
  store: Store,
  envelope: Envelope,
  known: (pack: string) => boolean,
): Promise<RebuildResult & { written: IndexedPack[] }> {
  const missing: IndexedPack[] = []
  const damaged: { pack: string; error: string }[] = []
  let packs = 0
  let blobs = 0
  for await (const info of store.list('pack')) {
    packs++
    if (known(info.name)) continue
    try {
      const p = await readPackEntries(store, envelope, info.name, info.size)
      missing.push(p)
      blobs += p.entries.length
    } catch (err) {
      damaged.push({ pack: info.name, error: err instanceof Error ? err.message : String(err) })
    }
  }
  let index: string | null = null
  if (missing.length > 0) {
    const encoded = encodeIndex(envelope, missing)
    try {
      await store.put('index', encoded.name, encoded.bytes)
    } catch (err) {
      // Unencrypted indexes are deterministic: the rebuilt one can have the name of the
      // damaged object it replaces. A name that does not decode is damage: replace it.
      if (!isPlakarError(err, 'STORAGE_EXISTS')) throw err
      const old = await store.get('index', encoded.name)
      try {
        decodeIndex(envelope, encoded.name, old)
      } catch {
        await store.delete('index', encoded.name)
        await store.put('index', encoded.name, encoded.bytes)
      }
    }
    index = encoded.name
  }
  return { packs, added: missing.length, blobs, index, damaged, written: missing }
}
