import {
  type BlobId,
  type BlobLocation,
  type BlobPool,
  type BlobPoolOptions,
  type LocatedBlob,
  Repository,
  type RepositoryConfig,
  type SealedBatch,
} from '../repository/index.js'
import type { SnapshotBlobWriter } from '../snapshot/index.js'
import { openStore, type Store } from '../storage/index.js'
import type { OpenedRepository, RepositoryProvider } from './context.js'

/**
 * The real repositories: a Store found by the location's scheme (storage/registry), and a
 * Repository over it. Closing one closes both.
 */
class Opened implements OpenedRepository {
  constructor(
    private readonly repo: Repository,
    readonly store: Store,
  ) {}
  get id(): string {
    return this.repo.id
  }
  get config(): RepositoryConfig {
    return this.repo.config
  }
  get encrypted(): boolean {
    return this.repo.encrypted
  }
  get damagedIndexes(): readonly { readonly name: string; readonly error: string }[] {
    return this.repo.damagedIndexes
  }
  indexEpoch(): string {
    return this.repo.indexEpoch()
  }
  writer(opts?: { cpus?: number }): SnapshotBlobWriter {
    return this.repo.writer(opts)
  }
  getBlob(id: BlobId): Promise<Uint8Array> {
    return this.repo.getBlob(id)
  }
  hasBlob(id: BlobId): Promise<boolean> {
    return this.repo.hasBlob(id)
  }
  hasBlobSync(id: BlobId): boolean {
    return this.repo.hasBlobSync(id)
  }
  hasBlobsSync(ids: Iterable<BlobId>): boolean {
    return this.repo.hasBlobsSync(ids)
  }
  locateBlobs(ids: readonly BlobId[]): Promise<(BlobLocation | Error)[]> {
    return this.repo.locateBlobs(ids)
  }
  fetchBlobs(blobs: readonly LocatedBlob[]): Promise<SealedBatch> {
    return this.repo.fetchBlobs(blobs)
  }
  blobPool<P, R>(opts: BlobPoolOptions<unknown>): BlobPool<P, R> {
    return this.repo.blobPool<P, R>(opts)
  }
  warmIndex(): void {
    this.repo.warmIndex()
  }
  putSnapshot(uuid: string, data: Uint8Array): Promise<void> {
    return this.repo.putSnapshot(uuid, data)
  }
  getSnapshot(uuid: string): Promise<Uint8Array> {
    return this.repo.getSnapshot(uuid)
  }
  listSnapshots(): Promise<string[]> {
    return this.repo.listSnapshots()
  }
  async close(): Promise<void> {
    try {
      await this.repo.close()
    } finally {
      await this.store.close()
    }
  }
}

async function closing<T>(store: Store, f: () => Promise<T>): Promise<T> {
  try {
    return await f()
  } catch (err) {
    await store.close().catch(() => {})
    throw err
  }
}

export const repositories: RepositoryProvider = {
  async create(location, opts) {
    const store = openStore(location)
    return closing(store, async () => new Opened(await Repository.create(store, opts), store))
  },
  async open(location, opts) {
    const store = openStore(location)
    return closing(store, async () => new Opened(await Repository.open(store, opts), store))
  },
}
