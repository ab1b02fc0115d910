import { randomBytes } from 'node:crypto'
import {
  deriveMasterKeys,
  type KdfOptions,
  type MasterKeys,
  newMasterKey,
  parseKeyFile,
  unwrapMasterKey,
  wrapMasterKey,
} from '../crypto/index.js'
import { isPlakarError, RepositoryError } from '../errors.js'
import { decodeIndex, type Envelope } from '../format/index.js'
import type { Store } from '../storage/store.js'
import { envelopeFor } from './blob-opener.js'
import { BlobPool, type BlobPoolOptions } from './blob-pool.js'
import { RepositoryBlobWriter, type WriterOptions } from './blob-writer.js'
import { cacheKey, defaultCacheDir, LocalCache } from './cache.js'
import { checkConfig, encodeConfig, newConfig, parseConfig } from './config.js'
import { Decoder } from './decoder.js'
import { Lock, listDoomNames, readDoom } from './locks.js'
import { maintenanceAccess, type RepositoryMaintenance } from './maintenance.js'
import { objectsAccess, type RepositoryObjects } from './objects.js'
import { PackReader } from './pack-reader.js'
import { type RebuildResult, rebuildIndex } from './rebuild.js'
import { fetchIds, fetchSealed, type LocatedBlob, type OpenBlob, type SealedBatch } from './sealed-batch.js'
import type { BlobId, BlobLocation, RepositoryConfig } from './types.js'

export interface CreateOptions {
  /** null = an unencrypted repository (integrity only). */
  readonly passphrase: Uint8Array | null
  readonly compression: boolean
  readonly chunking?: Partial<RepositoryConfig['chunking']>
  readonly packSize?: number
  /** scrypt cost; lower only for tests. */
  readonly kdf?: KdfOptions
  /** Where the local cache lives; null = a temporary one (-no-cache). Default: XDG cache. */
  readonly cacheDir?: string | null
  /** Worker threads that open blobs read in batches (restore); 0 = the calling thread. Default 1. */
  readonly decoders?: number
  /** Once opened, close() closes the store too (the caller opened it for this repository alone). */
  readonly ownsStore?: boolean
}

export interface OpenOptions {
  /** Asked only when the repository is encrypted. */
  readonly passphrase: () => Promise<Uint8Array>
  readonly cacheDir?: string | null
  /** Worker threads that open blobs read in batches (restore); 0 = the calling thread. Default 1. */
  readonly decoders?: number
  /** Once opened, close() closes the store too (the caller opened it for this repository alone). */
  readonly ownsStore?: boolean
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i
const SYNC_PARALLEL = 8

function snapshotName(uuid: string): string {
  if (!UUID.test(uuid)) throw new RepositoryError('REPO_USAGE', `not a snapshot uuid: "${uuid}"`)
  return uuid.replaceAll('-', '').toLowerCase()
}

function uuidOf(name: string): string {
  return `${name.slice(0, 8)}-${name.slice(8, 12)}-${name.slice(12, 16)}-${name.slice(16, 20)}-${name.slice(20)}`
}

/** Maps storage failures that mean "no such repository" to the repository's own code. */
async function orNotFound<T>(store: Store, p: Promise<T>): Promise<T> {
  try {
    return await p
  } catch (err) {
    if (isPlakarError(err, 'STORAGE_NOT_FOUND'))
      throw new RepositoryError('REPO_NOT_FOUND', `no repository at ${store.location}`, { cause: err })
    throw err
  }
}

/** A writer's lock (Repository.lockForWrite). */
export interface WriteLock {
  /** Fails with REPO_LOCKED when the lock may have been taken for stale: do not commit. */
  assertHeld(): Promise<void>
  release(): Promise<void>
}

export class Repository {
  private closed = false
  private readonly packs: PackReader
  private readonly decoder: Decoder

  private constructor(
    readonly store: Store,
    readonly config: RepositoryConfig,
    /** The config object as stored: what the keys are bound to, and what a clone copies. */
    private readonly configBytes: Uint8Array,
    private readonly keys: MasterKeys | null,
    private readonly envelope: Envelope,
    /** The local cache: the union of the index objects (cache.ts). */
    readonly cache: LocalCache,
    decoders: number,
    private readonly ownsStore: boolean,
  ) {
    this.packs = new PackReader(store, (pack) => cache.packDataEnd(pack))
    this.open = (type, id, sealed) => envelope.openBlob(type, id, sealed)
    this.decoder = new Decoder(this.open, this.openerSpec(), decoders)
  }

  /** The repository's blob opener; it stays in this layer (batches and pools carry it). */
  private readonly open: OpenBlob

  get id(): string {
    return this.config.id
  }

  get encrypted(): boolean {
    return this.keys !== null
  }

  /** What this repository's local caches are named by: its id and its location (cache.ts). */
  get cacheKey(): string {
    return cacheKey(this.config.id, this.store.location)
  }

  static async create(store: Store, opts: CreateOptions): Promise<Repository> {
    const config = newConfig({
      encrypted: opts.passphrase !== null,
      compression: opts.compression,
      chunking: opts.chunking,
      packSize: opts.packSize,
    })
    const configBytes = encodeConfig(config)
    let master: Buffer | null = null
    let keyFile: Uint8Array | null = null
    if (opts.passphrase !== null) {
      master = newMasterKey()
      keyFile = await wrapMasterKey(opts.passphrase, master, configBytes, opts.kdf)
    }
    const exists = (err: unknown) =>
      new RepositoryError('REPO_EXISTS', `a repository already exists at ${store.location}`, { cause: err })
    try {
      await store.create()
    } catch (err) {
      // A create killed before its config leaves a location with no config: resume it.
      if (!isPlakarError(err, 'STORAGE_EXISTS')) throw err
      if ((await store.stat('config', 'config')) !== undefined) throw exists(err)
    }
    // The config goes last: a location holds a repository once its config exists. Of two
    // racing creates, one config put wins; the loser's key is an orphan that cannot unwrap
    // against the winner's config.
    if (keyFile) await store.put('key', randomBytes(16).toString('hex'), keyFile)
    try {
      await store.put('config', 'config', configBytes)
    } catch (err) {
      if (isPlakarError(err, 'STORAGE_EXISTS')) throw exists(err)
      throw err
    }
    return Repository.assemble(store, config, configBytes, master, opts)
  }

  static async open(store: Store, opts: OpenOptions): Promise<Repository> {
    await orNotFound(store, store.open())
    const configBytes = await orNotFound(store, store.get('config', 'config'))
    const config = parseConfig(configBytes)
    let master: Buffer | null = null
    if (config.encryption !== null) {
      const keys: { name: string; bytes: Uint8Array }[] = []
      for await (const info of store.list('key'))
        keys.push({ name: info.name, bytes: await store.get('key', info.name) })
      if (keys.length === 0) throw new RepositoryError('REPO_CORRUPT', `repository ${config.id} has no key`)
      const passphrase = await opts.passphrase()
      // A key can be an orphan of an interrupted or raced create (it matches another config):
      // skip keys that fail, and report damage only if no key opens the repository.
      let damage: unknown
      for (const k of keys) {
        try {
          master = await unwrapMasterKey(k.name, parseKeyFile(k.name, k.bytes), passphrase, configBytes)
        } catch (err) {
          if (!isPlakarError(err, 'REPO_CORRUPT') && !isPlakarError(err, 'REPO_UNSUPPORTED')) throw err
          damage ??= err
        }
        if (master) break
      }
      if (!master && damage) throw damage
      if (!master) throw new RepositoryError('REPO_BAD_PASSPHRASE', 'wrong passphrase for this repository')
    }
    checkConfig(config)
    return Repository.assemble(store, config, configBytes, master, opts)
  }

  private static async assemble(
    store: Store,
    config: RepositoryConfig,
    configBytes: Uint8Array,
    master: Buffer | null,
    opts: CreateOptions | OpenOptions,
  ): Promise<Repository> {
    const { cacheDir, decoders = 1, ownsStore = false } = opts
    const keys = master ? deriveMasterKeys(master, config.id) : null
    const envelope = envelopeFor({
      dataKey: keys?.data ?? null,
      idKey: keys?.id ?? null,
      compression: config.compression,
    })
    const cache = LocalCache.open(
      cacheKey(config.id, store.location),
      cacheDir === undefined ? defaultCacheDir() : cacheDir,
    )
    const repo = new Repository(
      store,
      config,
      configBytes,
      keys,
      envelope,
      cache,
      Math.max(0, Math.floor(decoders)),
      ownsStore,
    )
    try {
      await repo.sync()
    } catch (err) {
      cache.close()
      throw err
    }
    return repo
  }

  /**
   * Brings the cache up to date with the repository's index objects and doom lists
   * (locks.ts): reads those not seen yet. If one the cache has seen is gone, the cache is
   * rebuilt from scratch.
   */
  async sync(): Promise<void> {
    this.check()
    // Doom lists first: a pack a prune dooms is indexed before the list is written, so an
    // index read below is never newer than the dooms that apply to it.
    const dooms = await listDoomNames(this.store)
    if (this.cache.doomNames().some((n) => !dooms.includes(n))) this.cache.resetAll()
    // Applied before any index object is read: a row of a doomed pack never enters the set
    // that deduplication sees.
    const applied = new Set(this.cache.doomNames())
    const damagedDooms: string[] = []
    for (const name of dooms) {
      if (applied.has(name)) continue
      try {
        const doom = await readDoom(this.store, this.envelope, name)
        if (doom) this.cache.applyDoom(name, doom.packs)
      } catch (err) {
        if (!isPlakarError(err, 'REPO_CORRUPT') && !isPlakarError(err, 'REPO_UNSUPPORTED')) throw err
        damagedDooms.push(`${name}: ${(err as Error).message}`)
      }
    }
    this.damagedDooms = damagedDooms
    const listed: string[] = []
    let seen = 0
    for await (const info of this.store.list('index')) {
      listed.push(info.name)
      if (this.cache.hasIndex(info.name)) seen++
    }
    if (seen !== this.cache.indexCount()) this.cache.reset()
    const fresh = listed.filter((name) => !this.cache.hasIndex(name))
    let next = 0
    const damaged: { name: string; error: string }[] = []
    const worker = async () => {
      while (next < fresh.length) {
        const name = fresh[next++]!
        try {
          const bytes = await this.store.get('index', name)
          this.cache.addIndex(name, decodeIndex(this.envelope, name, bytes))
        } catch (err) {
          // One damaged index must not make the repository unusable: its packs are still
          // there and rebuildIndex() re-reads them. Skipped (and retried at the next sync).
          if (!isPlakarError(err, 'REPO_CORRUPT') && !isPlakarError(err, 'REPO_UNSUPPORTED')) throw err
          damaged.push({ name, error: (err as Error).message })
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(SYNC_PARALLEL, fresh.length) }, worker))
    this.damagedIndexes = damaged
  }

  /** Doom lists the last sync could not read: no write may start (lockForWrite) until a prune removes them. */
  private damagedDooms: readonly string[] = []

  /**
   * Takes a writer's shared lock (locks.ts), then syncs, so the writer sees every doom list
   * a prune wrote before the prune looked for writers. Hold it from before the first blob is
   * looked up (the file cache's trust included) until the snapshot is committed; call
   * assertHeld() right before committing. A prune beside it never deletes what it uses.
   */
  async lockForWrite(): Promise<WriteLock> {
    this.check()
    const lock = await Lock.take(this.store, this.envelope, 'push')
    try {
      await this.sync()
      if (this.damagedDooms.length > 0)
        throw new RepositoryError(
          'REPO_CORRUPT',
          `doom list ${this.damagedDooms[0]}: no backup can start until plakar prune removes it`,
        )
    } catch (err) {
      await lock.release().catch(() => {})
      throw err
    }
    return lock
  }

  /**
   * Index objects the last sync could not read (damaged): blobs only they name look absent
   * until rebuildIndex(). For the commands to warn about; empty when all is well.
   */
  damagedIndexes: readonly { readonly name: string; readonly error: string }[] = []

  writer<S = never>(opts?: WriterOptions<S>): RepositoryBlobWriter<S> {
    this.check()
    return new RepositoryBlobWriter<S>(
      {
        store: this.store,
        config: this.config,
        envelope: this.envelope,
        cache: this.cache,
        keys: { data: this.keys?.data ?? null, id: this.keys?.id ?? null },
      },
      opts,
    )
  }

  /** Where a blob is, per the index (syncing once if the cache does not know it). */
  async locate(id: BlobId): Promise<BlobLocation> {
    this.check()
    let row = this.cache.lookup(id)
    if (!row) {
      await this.sync()
      row = this.cache.lookup(id)
    }
    if (!row) throw this.notFound(id)
    return row.location
  }

  /**
   * locate for many blobs at once: each blob's location, or the REPO_BLOB_NOT_FOUND error
   * getBlob would throw for it. One read transaction for the set (a restore's per-blob
   * queries were a tenth of its time), and one sync when some are unknown.
   */
  async locateBlobs(ids: readonly BlobId[]): Promise<(BlobLocation | RepositoryError)[]> {
    this.check()
    const rows = this.cache.lookupMany(ids)
    const missing: number[] = []
    rows.forEach((r, k) => {
      if (r === undefined) missing.push(k)
    })
    if (missing.length > 0) {
      await this.sync()
      const again = this.cache.lookupMany(missing.map((k) => ids[k]!))
      missing.forEach((k, j) => {
        rows[k] = again[j]
      })
    }
    return rows.map((r, k) => (r === undefined ? this.notFound(ids[k]!) : r.location))
  }

  /**
   * The blobs, already located (locateBlobs), read as a SealedBatch: each distinct blob once,
   * neighbours in a pack in one range read. Open them here (batch.open) or hand the batch to
   * a worker of a blobPool. A missing or short pack is each of its blobs' error (REPO_CORRUPT).
   */
  async fetchBlobs(blobs: readonly LocatedBlob[]): Promise<SealedBatch> {
    this.check()
    return fetchSealed(blobs, (pack, offset, length) => this.readPack(pack, offset, length), this.open)
  }

  /**
   * The contents of `ids`, verified, in order: each blob's content or the RepositoryError it
   * failed with (not in the index, damaged, its pack lost). One index query, one read per run
   * of neighbouring blobs: the batched read, as restic's LoadBlobsFromPack. The contents are
   * opened on this thread; for work off it, fetchBlobs and a blobPool.
   */
  async loadBlobs(ids: readonly BlobId[]): Promise<(Uint8Array | RepositoryError)[]> {
    const { batch, slots } = await fetchIds(
      ids,
      (x) => this.locateBlobs(x),
      (x) => this.fetchBlobs(x),
    )
    return slots.map((k) => {
      if (k instanceof RepositoryError) return k
      try {
        return batch.open(k)
      } catch (err) {
        if (isPlakarError(err)) return err as RepositoryError
        throw err
      }
    })
  }

  /**
   * Worker threads of this repository that open the sealed batches posted to them and hand
   * each, opened, to the consumer that `entry` serves (blob-pool-worker.ts). The keys go to
   * the workers' repository code, never to the consumer.
   */
  blobPool<P, R>(opts: BlobPoolOptions<unknown>): BlobPool<P, R> {
    this.check()
    return new BlobPool<P, R>(this.openerSpec(), opts)
  }

  /**
   * A hint that much of the index is about to be looked up (a restore of many files): the
   * local cache reads its file in order in the background (LocalCache.warm).
   */
  warmIndex(): void {
    this.check()
    this.cache.warm()
  }

  private readPack(pack: string, offset: number, length: number): Promise<Uint8Array> {
    return this.store.get('pack', pack, offset, length).catch((err) => {
      throw packFailure(err, pack)
    })
  }

  private openerSpec() {
    return {
      dataKey: this.keys?.data ?? null,
      idKey: this.keys?.id ?? null,
      compression: this.config.compression,
    }
  }

  private notFound(id: BlobId): RepositoryError {
    const hint =
      this.damagedIndexes.length > 0
        ? ` (${this.damagedIndexes.length} damaged index object(s): rebuild the index)`
        : ''
    return new RepositoryError(
      'REPO_BLOB_NOT_FOUND',
      `blob ${Buffer.from(id).toString('hex')} is not in the repository${hint}`,
    )
  }

  /**
   * A value that changes whenever a blob may have left the index as this repository knows it
   * (cache.ts): while it holds, a blob once found in the index is still there. The file cache
   * trusts the chunks of a committed push under it without looking them up again.
   */
  indexEpoch(): string {
    this.check()
    return this.cache.epoch()
  }

  /** The id a blob with this content has in this repository (keyed MAC or SHA-256). */
  blobId(data: Uint8Array): BlobId {
    return this.envelope.blobId(data)
  }

  /**
   * True when every id is in the index (as far as the cache knows): how the snapshot layer
   * checks an unchanged file's chunks before reusing them, in one query batch.
   */
  async hasBlobs(ids: Iterable<BlobId>): Promise<boolean> {
    this.check()
    return this.cache.hasAll(ids)
  }

  async hasBlob(id: BlobId): Promise<boolean> {
    this.check()
    return this.cache.hasBlob(id)
  }

  /** hasBlob's answer without a promise (the index is in the local cache). */
  hasBlobSync(id: BlobId): boolean {
    this.check()
    return this.cache.hasBlob(id)
  }

  /** hasBlobs's answer without a promise. */
  hasBlobsSync(ids: Iterable<BlobId>): boolean {
    this.check()
    return this.cache.hasAll(ids)
  }

  /** The blob's content, verified against its id; REPO_CORRUPT when damaged. */
  async getBlob(id: BlobId): Promise<Uint8Array> {
    const loc = await this.locate(id)
    let sealed: Uint8Array
    try {
      sealed = await this.packs.read(loc)
    } catch (err) {
      throw packFailure(err, loc.pack, `blob ${Buffer.from(id).toString('hex')}: `)
    }
    return this.decoder.decode(loc.type, id, sealed)
  }

  /**
   * The contents of `ids` in order, fetching up to `readAhead` blobs ahead of the consumer:
   * how a file is streamed (cat, a restorer) without holding it in memory. The ids may come
   * from an async source (a snapshot's chunk lists); a failure surfaces at its own place.
   */
  async *readBlobs(
    ids: Iterable<BlobId> | AsyncIterable<BlobId>,
    opts: { readAhead?: number } = {},
  ): AsyncGenerator<Uint8Array> {
    const ahead = Math.max(1, opts.readAhead ?? 8)
    const window: Promise<Uint8Array>[] = []
    for await (const id of ids) {
      const p = this.getBlob(id)
      p.catch(() => {}) // surfaced when awaited in order
      window.push(p)
      if (window.length > ahead) yield await window.shift()!
    }
    while (window.length > 0) yield await window.shift()!
  }

  async putSnapshot(uuid: string, data: Uint8Array): Promise<void> {
    this.check()
    const name = snapshotName(uuid)
    await this.store.put('snapshot', name, this.envelope.sealObject(`snapshot ${name}`, data))
  }

  async getSnapshot(uuid: string): Promise<Uint8Array> {
    this.check()
    const name = snapshotName(uuid)
    let bytes: Uint8Array
    try {
      bytes = await this.store.get('snapshot', name)
    } catch (err) {
      if (isPlakarError(err, 'STORAGE_NOT_FOUND'))
        throw new RepositoryError('REPO_SNAPSHOT_NOT_FOUND', `no snapshot ${uuidOf(name)}`, { cause: err })
      throw err
    }
    return this.envelope.openObject(`snapshot ${name}`, bytes, `snapshot ${uuidOf(name)}`)
  }

  async listSnapshots(): Promise<string[]> {
    this.check()
    const out: string[] = []
    for await (const info of this.store.list('snapshot'))
      if (/^[0-9a-f]{32}$/.test(info.name)) out.push(uuidOf(info.name))
    return out.sort()
  }

  /** Removes a snapshot object (its blobs stay until a later prune). */
  async deleteSnapshot(uuid: string): Promise<void> {
    this.check()
    await this.store.delete('snapshot', snapshotName(uuid))
  }

  /** Its objects as stored, each verifiable before it is copied elsewhere (objects.ts). */
  objects(): RepositoryObjects {
    this.check()
    return objectsAccess(this.store, this.envelope, this.configBytes)
  }

  /** What maintenance may do to this repository (see maintenance.ts). */
  maintenance(): RepositoryMaintenance {
    this.check()
    return maintenanceAccess(
      this.store,
      this.envelope,
      this.cache,
      () => this.sync(),
      () => this.writer(),
      {
        locate: (ids) => this.locateBlobs(ids),
        fetch: (blobs) => this.fetchBlobs(blobs),
      },
    )
  }

  /**
   * Rebuilds the index from the packs: every pack no index names gets named by one new
   * index object (e.g. after index objects were lost, or packs left by a killed writer
   * are to be kept). Damaged packs are reported, not indexed.
   */
  async rebuildIndex(): Promise<RebuildResult> {
    this.check()
    await this.sync()
    const { written, ...result } = await rebuildIndex(this.store, this.envelope, (pack) =>
      this.cache.hasPack(pack),
    )
    if (result.index) this.cache.addIndex(result.index, written)
    return result
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    try {
      await this.decoder.close()
      this.cache.close()
    } finally {
      if (this.ownsStore) await this.store.close()
    }
  }

  private check(): void {
    if (this.closed) throw new RepositoryError('REPO_USAGE', 'repository is closed')
  }
}

/** A pack read's failure as callers see it: a missing or short pack is REPO_CORRUPT, the rest as is. */
function packFailure(err: unknown, pack: string, prefix = ''): unknown {
  if (isPlakarError(err, 'STORAGE_NOT_FOUND') || isPlakarError(err, 'STORAGE_SHORT_READ'))
    return new RepositoryError('REPO_CORRUPT', `${prefix}pack ${pack} is missing or truncated`, {
      cause: err,
    })
  return err
}
