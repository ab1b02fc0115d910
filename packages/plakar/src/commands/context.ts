import {
  defaultCacheDir,
  type RepositoryConfig,
  type RepositoryMaintenance,
  type RepositoryObjects,
} from '../repository/index.js'
import type { RestoreRepository } from '../snapshot/index.js'
import type { Store } from '../storage/index.js'
import { getPassphrase, type PassphraseIo } from './passphrase.js'

/**
 * What a command runs with: the global options, the process's streams and environment,
 * and the way to reach repositories. Tests build one with their own streams.
 */
export interface GlobalOptions {
  /** As the user wrote it after on/at, or the default `~/.plakar`. */
  readonly repository: string
  readonly cpus: number
  /** True when -cpu was given: a restore then uses that many workers, else one per CPU. */
  readonly cpusGiven?: boolean
  readonly noCache: boolean
  readonly keyfile: string | undefined
  /** The whole command line, recorded in snapshots. */
  readonly argv: readonly string[]
}

export interface OutStream extends NodeJS.WritableStream {
  readonly isTTY?: boolean
  readonly columns?: number
}

export interface Io extends PassphraseIo {
  readonly stdout: OutStream
  readonly stderr: OutStream
  readonly cwd: string
}

/** A repository as the commands use it: the snapshot layer's needs plus what info shows. */
export interface OpenedRepository extends RestoreRepository {
  readonly config: RepositoryConfig
  readonly encrypted: boolean
  /** The name of its local caches: its id and location (a clone keeps the id). */
  readonly cacheKey: string
  /** Index objects that could not be read when the repository was opened (damaged). */
  readonly damagedIndexes?: readonly { readonly name: string; readonly error: string }[]
  readonly store: { readonly location: string; readonly concurrency: number }
  /** What check, prune and repair may do (Repository.maintenance). */
  maintenance(): RepositoryMaintenance
  /** Its objects as stored, each verifiable (Repository.objects): what clone copies. */
  objects(): RepositoryObjects
  /** The contents of blobs, verified, each or its error (Repository.loadBlobs): prune's repack. */
  loadBlobs(ids: readonly Uint8Array[]): Promise<(Uint8Array | Error)[]>
  /** Removes a snapshot object (rm, keep); its blobs stay until a prune. */
  deleteSnapshot(uuid: string): Promise<void>
  /** Changes whenever a blob may have left the index (Repository.indexEpoch): the file cache's trust. */
  indexEpoch(): string
  close(): Promise<void>
}

/** How repositories are created and opened (commands/repositories.ts; tests may pass another). */
export interface RepositoryProvider {
  create(
    location: string,
    opts: { passphrase: Uint8Array | null; compression: boolean },
  ): Promise<OpenedRepository>
  open(
    location: string,
    opts: {
      passphrase: () => Promise<Uint8Array>
      cacheDir: string | null
      /** Worker threads that open blobs for getBlob (Repository's `decoders`); default 1. */
      decoders?: number
    },
  ): Promise<OpenedRepository>
  /** A store by location, not opened (clone's destination). */
  store(location: string): Store
}

export class Context {
  constructor(
    readonly global: GlobalOptions,
    readonly io: Io,
    readonly repositories: RepositoryProvider,
  ) {}

  /** `${XDG_CACHE_HOME:-~/.cache}/plakar`, or null under -no-cache. */
  cacheDir(): string | null {
    if (this.global.noCache) return null
    return defaultCacheDir(this.io.env)
  }

  passphrase(confirm: boolean): Promise<Uint8Array> {
    return getPassphrase(this.io, this.global.keyfile, { confirm })
  }

  /** Open the repository, run `f`, close it whatever happens. */
  async withRepository<T>(
    f: (repo: OpenedRepository) => Promise<T>,
    opts: { decoders?: number } = {},
  ): Promise<T> {
    const repo = await this.repositories.open(this.global.repository, {
      passphrase: () => this.passphrase(false),
      cacheDir: this.cacheDir(),
      ...opts,
    })
    for (const d of repo.damagedIndexes ?? []) {
      this.err(`plakar: warning: index ${d.name} skipped: ${d.error}`)
    }
    try {
      return await f(repo)
    } finally {
      await repo.close()
    }
  }

  out(text: string): void {
    this.io.stdout.write(text)
  }

  err(text: string): void {
    this.io.stderr.write(text.endsWith('\n') ? text : `${text}\n`)
  }

  /** Write bytes to stdout, waiting when the reader is slower than we are. */
  async write(data: Uint8Array): Promise<void> {
    if (!this.io.stdout.write(data)) {
      await new Promise<void>((resolve, reject) => {
        const s = this.io.stdout
        const ok = () => {
          s.off('error', ko)
          resolve()
        }
        const ko = (e: Error) => {
          s.off('drain', ok)
          reject(e)
        }
        s.once('drain', ok)
        s.once('error', ko)
      })
    }
  }
}
