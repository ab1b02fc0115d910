import { isPlakarError, RepositoryError } from '../errors.js'
import { decodeIndex, type Envelope, encodeIndex, type IndexedPack } from '../format/index.js'
import type { ObjectInfo, Store } from '../storage/store.js'
import type { LocalCache } from './cache.js'
import { readPackEntries } from './rebuild.js'

/**
 * What maintenance (check, prune, repair: src/maintenance/) may do to a repository, through
 * the repository's own envelope and cache rather than around them: list and read packs and
 * index objects (verified), write an index object that supersedes others, delete objects.
 * Repository.maintenance() hands one out; the repository's keys stay inside it.
 *
 * CONTRACT
 * - readIndex and readPackHeader verify what they return (REPO_CORRUPT when damaged, naming
 *   the object); readPackHeader needs no index (the pack describes itself).
 * - supersede(packs, old) writes one index object naming exactly `packs`, durable, and only
 *   then deletes the index objects `old`: a crash in between leaves both, whose union is
 *   still a correct index (more names, never fewer). The local cache is rebuilt from the
 *   index objects at the next sync.
 * - deletePack is the caller's decision that no index object names the pack any more; the
 *   repository does not check it (prune's order: supersede first, then delete packs).
 * - Listings carry what the store knows of each object (size, modification time).
 */
export interface RepositoryMaintenance {
  listPacks(): AsyncIterable<ObjectInfo>
  listIndexes(): AsyncIterable<ObjectInfo>
  readIndex(name: string): Promise<IndexedPack[]>
  readPackHeader(name: string, size?: number): Promise<IndexedPack>
  /** The name of the index object written. */
  supersede(packs: readonly IndexedPack[], old: readonly string[]): Promise<string>
  deletePack(name: string): Promise<void>
  deleteIndex(name: string): Promise<void>
}

export function maintenanceAccess(
  store: Store,
  envelope: Envelope,
  cache: LocalCache,
): RepositoryMaintenance {
  return {
    listPacks: () => store.list('pack'),
    listIndexes: () => store.list('index'),
    async readIndex(name) {
      let bytes: Uint8Array
      try {
        bytes = await store.get('index', name)
      } catch (err) {
        if (isPlakarError(err, 'STORAGE_NOT_FOUND'))
          throw new RepositoryError('REPO_CORRUPT', `index ${name} is missing`, { cause: err })
        throw err
      }
      return decodeIndex(envelope, name, bytes)
    },
    readPackHeader: (name, size) => readPackEntries(store, envelope, name, size),
    async supersede(packs, old) {
      const encoded = encodeIndex(envelope, packs)
      await store.put('index', encoded.name, encoded.bytes)
      for (const name of old) if (name !== encoded.name) await store.delete('index', name)
      // The cache holds the union of the index objects it saw: some are gone now.
      cache.reset()
      return encoded.name
    },
    deletePack: (name) => store.delete('pack', name),
    async deleteIndex(name) {
      await store.delete('index', name)
      cache.reset()
    },
  }
}
