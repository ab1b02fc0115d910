import { isPlakarError, RepositoryError } from '../errors.js'
import {
  decodeIndex,
  decodeIndexEach,
  type Envelope,
  encodeIndex,
  type IndexedPack,
} from '../format/index.js'
import type { ObjectInfo, Store } from '../storage/store.js'
import type { BlobWriter, RepositoryBlobWriter } from './blob-writer.js'
import type { LocalCache } from './cache.js'
/**
 * What maintenance (check, prune, repair: src/maintenance/) may do to a repository, through
 * the repository's own envelope and cache rather than around them: list and read packs and
 * index objects (verified), write index objects that supersede others, delete packs and locks.
 * Repository.maintenance() hands one out; the repository's keys stay inside it.
 *
 * CONTRACT
 * - readIndex and readPackHeader verify what they return (REPO_CORRUPT when damaged, naming
 *   the object); readPackHeader needs no index (the pack describes itself).
 * - supersede(packs, old) writes index objects naming exactly `packs` (up to INDEX_PACKS
 *   packs or INDEX_BLOBS blobs each, at least one pack, `beforeWrite` awaited before each), durable, and only then deletes the index
 *   objects `old`: a crash in between leaves both, whose union is still a correct index
 *   (more names, never fewer). The local cache is rebuilt from the index objects at the next
 *   sync. `packs` may be produced lazily, so memory holds one object's worth.
 * - deletePack is the caller's decision that no index object names the pack any more; the
 *   repository does not check it (prune's order: supersede first, then delete packs).
 * - Listings carry what the store knows of each object (size, modification time).
 * - Locks and doom lists are locks.ts's; prune's protocol over them is in
 *   docs/plakar-maintenance.md. writeDoom only writes: sync() applies it to this cache.
 */
import { INDEX_BLOBS, INDEX_PACKS } from './limits.js'
import {
  isStale,
  type Lock,
  type LockInfo,
  type LockKind,
  listDoomNames,
  listLocks,
  takeExclusive,
  writeDoom,
} from './locks.js'
import { readPackEntries } from './rebuild.js'
import { fetchIds, type LocatedBlob, type SealedBatch } from './sealed-batch.js'
import type { BlobId, BlobLocation } from './types.js'

export { INDEX_BLOBS, INDEX_PACKS }

export interface RepositoryMaintenance {
  listPacks(): AsyncIterable<ObjectInfo>
  listIndexes(): AsyncIterable<ObjectInfo>
  readIndex(name: string): Promise<IndexedPack[]>
  /**
   * readIndex one pack at a time, `visit` called synchronously in order, so memory holds one
   * pack's entries: for readers that store them elsewhere. A damaged object throws (before or
   * between visits): wrap what visit does in a transaction to undo a partial object.
   */
  forEachIndexPack(name: string, visit: (pack: IndexedPack) => void): Promise<void>
  readPackHeader(name: string, size?: number): Promise<IndexedPack>
  /** The names of the index objects written. */
  supersede(
    packs: Iterable<IndexedPack> | AsyncIterable<IndexedPack>,
    old: readonly string[],
    beforeWrite?: () => Promise<void>,
  ): Promise<string[]>
  /** True when an index object the last sync read names the pack. */
  hasPack(name: string): boolean
  deletePack(name: string): Promise<void>
  /** The repository's exclusive maintenance lock (REPO_LOCKED when another holds it). */
  lockExclusive(): Promise<Lock>
  listLocks(kind: LockKind): Promise<LockInfo[]>
  isStale(lock: LockInfo): boolean
  deleteLock(name: string): Promise<void>
  writeDoom(packs: readonly string[]): Promise<string>
  listDooms(): Promise<string[]>
  /** The cache brought up to date with the index objects and doom lists (Repository.sync). */
  sync(): Promise<void>
  /** A writer of blobs (prune's repack); it deduplicates against no doomed blob. */
  writer(): MaintenanceWriter
  /** Store.clean: leftovers of interrupted puts older than `olderThanMs`, or of dead writers. */
  clean(olderThanMs: number): Promise<number>
}

/** A writer that can also copy blobs as they are stored (prune's repack). */
export interface MaintenanceWriter extends BlobWriter {
  /**
   * Copies the blobs `ids` as they are stored into this writer's packs, each authenticated
   * first (Envelope.verifyBlob), none opened or sealed again: a repack moves bytes. Per id,
   * the bytes it added (0 when the repository holds it elsewhere) or the error that kept it
   * from being copied (REPO_BLOB_NOT_FOUND, REPO_CORRUPT: its pack lost or the bytes
   * damaged). Indexed at the writer's flush, as putBlob's.
   */
  copyBlobs(ids: readonly BlobId[]): Promise<(number | RepositoryError)[]>
}

/** The repository's read path, as copyBlobs needs it. */
export interface MaintenanceReads {
  locate(ids: readonly BlobId[]): Promise<(BlobLocation | RepositoryError)[]>
  fetch(blobs: readonly LocatedBlob[]): Promise<SealedBatch>
}

export function maintenanceAccess(
  store: Store,
  envelope: Envelope,
  cache: LocalCache,
  sync: () => Promise<void>,
  writer: () => RepositoryBlobWriter<never>,
  reads: MaintenanceReads,
): RepositoryMaintenance {
  const getIndex = async (name: string): Promise<Uint8Array> => {
    try {
      return await store.get('index', name)
    } catch (err) {
      if (isPlakarError(err, 'STORAGE_NOT_FOUND'))
        throw new RepositoryError('REPO_CORRUPT', `index ${name} is missing`, { cause: err })
      throw err
    }
  }
  return {
    listPacks: () => store.list('pack'),
    listIndexes: () => store.list('index'),
    async readIndex(name) {
      return decodeIndex(envelope, name, await getIndex(name))
    },
    async forEachIndexPack(name, visit) {
      decodeIndexEach(envelope, name, await getIndex(name), visit)
    },
    readPackHeader: (name, size) => readPackEntries(store, envelope, name, size),
    async supersede(packs, old, beforeWrite) {
      const written = new Set<string>()
      let piece: IndexedPack[] = []
      let blobs = 0
      const flush = async () => {
        if (piece.length === 0) return
        await beforeWrite?.()
        const encoded = encodeIndex(envelope, piece)
        await store.put('index', encoded.name, encoded.bytes)
        written.add(encoded.name)
        piece = []
        blobs = 0
      }
      for await (const p of packs) {
        piece.push(p)
        blobs += p.entries.length
        if (piece.length >= INDEX_PACKS || blobs >= INDEX_BLOBS) await flush()
      }
      await flush()
      // An unencrypted index object's name is its hash: a new one may be an old one.
      for (const name of old) if (!written.has(name)) await store.delete('index', name)
      // The cache holds the union of the index objects it saw: some are gone now.
      cache.reset()
      return [...written]
    },
    hasPack: (name) => cache.hasPack(name),
    deletePack: (name) => store.delete('pack', name),
    lockExclusive: () => takeExclusive(store, envelope),
    listLocks: (kind) => listLocks(store, envelope, kind),
    isStale: (lock) => isStale(lock),
    deleteLock: (name) => store.delete('lock', name),
    writeDoom: (packs) => writeDoom(store, envelope, packs),
    listDooms: () => listDoomNames(store),
    sync,
    writer() {
      const w = writer()
      return Object.assign(w, {
        async copyBlobs(ids: readonly BlobId[]): Promise<(number | RepositoryError)[]> {
          const { batch, slots, locs } = await fetchIds(ids, reads.locate, reads.fetch)
          const out: (number | RepositoryError)[] = []
          for (const [i, k] of slots.entries()) {
            if (k instanceof RepositoryError) {
              out.push(k)
              continue
            }
            const { type, bytes } = batch.sealed(k)
            try {
              envelope.verifyBlob(type, ids[i]!, bytes)
            } catch (err) {
              if (!isPlakarError(err)) throw err
              out.push(err as RepositoryError)
              continue
            }
            out.push(
              (await w.putSealed(type, ids[i]!, bytes, (locs[i] as BlobLocation).rawLength)).packedSize,
            )
          }
          return out
        },
      })
    },
    clean: (ms) => store.clean(ms),
  }
}
