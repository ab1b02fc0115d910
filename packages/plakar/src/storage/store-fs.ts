/**
 * fs:///path: one file per object under a directory (layout in docs/plakar-storage.md).
 *
 *   <root>/layout               "plakar-fs-store 1\n", written last by create()
 *   <root>/keys/<name>, index/<name>, snapshots/<name>, locks/<name>, config/<name>
 *   <root>/packs/<name[0:2]>/<name>   fan-out keeps directories small
 *
 * put writes a temp file beside the target, fsyncs it, link(2)s it to the target (which
 * fails rather than replaces when the target exists), removes the temp name and fsyncs
 * the directory. A writer killed at any step leaves at most a `.tmp-*` file, which list
 * skips and clean() removes. The file's mtime is the object's; a re-put of identical bytes
 * sets it to now (futimes, fsync).
 */
import { promises as fsp } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { StorageError } from '../errors.js'
import { checkName, checkRange, closedError, exists, notFound, rangeEnd, sameBytes } from './checks.js'
import { FdCache, type Lease } from './fd-cache.js'
import {
  describe,
  errno,
  exists as pathExists,
  publish,
  readRange,
  syncDir,
  TEMP_PREFIX,
  tempName,
  tempWriterDead,
  touch,
  writeNewFile,
} from './fs-io.js'
import { pathLocation, urlPath } from './location.js'
import type { ObjectInfo, ObjectKind, Store, StoreFactory } from './store.js'

export const FS_LAYOUT = 'plakar-fs-store 1\n'
const LAYOUT_FILE = 'layout'

/** Directory of each kind; `fanout` kinds get one subdirectory per two-character name prefix. */
const KIND_DIRS: Record<ObjectKind, { readonly dir: string; readonly fanout: boolean }> = {
  config: { dir: 'config', fanout: false },
  key: { dir: 'keys', fanout: false },
  pack: { dir: 'packs', fanout: true },
  index: { dir: 'index', fanout: false },
  snapshot: { dir: 'snapshots', fanout: false },
  lock: { dir: 'locks', fanout: false },
}
const OWN_ENTRIES = new Set([LAYOUT_FILE, ...Object.values(KIND_DIRS).map((k) => k.dir)])

export class FsStore implements Store {
  readonly location: string
  /**
   * Each request is a few calls on libuv's thread pool (4 threads unless UV_THREADPOOL_SIZE
   * says otherwise): twice that keeps the pool busy while some wait on fsync; beyond, they
   * only queue there, ahead of the zlib, crypto and dns work that shares the pool.
   */
  readonly concurrency = 8
  /** A pack's put (write, fsync, link) costs less than filling the next one. */
  readonly largePuts = 1
  readonly root: string
  readonly #dirsMade = new Set<string>()
  /** Objects never change once named, so their fds can be kept (see fd-cache.ts). */
  readonly #fds = new FdCache()
  #closed = false

  constructor(root: string) {
    this.root = root
    this.location = pathLocation('fs', root)
  }

  async create(): Promise<void> {
    this.#check()
    const parent = dirname(this.root)
    const info = await fsp.stat(parent).catch(() => undefined)
    if (info === undefined || !info.isDirectory()) {
      throw new StorageError('STORAGE_BAD_LOCATION', `${this.location}: directory ${parent} does not exist`)
    }
    try {
      await fsp.mkdir(this.root, { mode: 0o700 })
    } catch (err) {
      if (errno(err) !== 'EEXIST') throw this.#io('create', err)
      await this.#refuseOccupied()
    }
    for (const { dir } of Object.values(KIND_DIRS)) {
      await fsp.mkdir(join(this.root, dir), { mode: 0o700 }).catch((err) => {
        if (errno(err) !== 'EEXIST') throw this.#io('create', err)
      })
    }
    try {
      await syncDir(this.root)
      await syncDir(parent)
      const temp = join(this.root, tempName())
      await writeNewFile(temp, Buffer.from(FS_LAYOUT))
      if (!(await publish(temp, join(this.root, LAYOUT_FILE)))) throw this.#alreadyThere()
      await syncDir(this.root)
    } catch (err) {
      if (err instanceof StorageError) throw err
      throw this.#io('create', err)
    }
  }

  async open(): Promise<void> {
    this.#check()
    let layout: string
    try {
      layout = await fsp.readFile(join(this.root, LAYOUT_FILE), 'latin1')
    } catch (err) {
      if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') throw this.#noRepository()
      throw this.#io('open', err)
    }
    const m = /^plakar-fs-store (\d+)\n$/.exec(layout)
    if (m === null) {
      throw new StorageError('STORAGE_BAD_LOCATION', `${this.location}: ${LAYOUT_FILE} file is not plakar's`)
    }
    if (m[1] !== '1') {
      throw new StorageError(
        'STORAGE_BAD_LOCATION',
        `${this.location}: storage layout ${m[1]} is newer than this plakar supports (1)`,
      )
    }
  }

  async put(kind: ObjectKind, name: string, data: Uint8Array): Promise<void> {
    checkName(this.location, kind, name)
    this.#check()
    const dir = this.#dir(kind, name)
    const target = join(dir, name)
    try {
      // A concurrent delete can remove the target between link failing and the comparison:
      // then the name is free again and the next round takes it.
      for (let round = 0; round < 3; round++) {
        if (await this.#matchesExisting(kind, name, target, data)) return
        await this.#makeDir(kind, dir)
        const temp = join(dir, tempName())
        await writeNewFile(temp, data)
        if (await publish(temp, target)) {
          await syncDir(dir)
          return
        }
      }
      throw new StorageError('STORAGE_IO', `${this.location}: ${kind} ${name} keeps vanishing during put`)
    } catch (err) {
      if (err instanceof StorageError) throw err
      if (errno(err) === 'ENOENT') throw this.#noRepository()
      throw this.#io(`write ${kind} ${name}`, err)
    }
  }

  async get(kind: ObjectKind, name: string, offset?: number, length?: number): Promise<Uint8Array> {
    checkName(this.location, kind, name)
    const range = checkRange(offset, length)
    this.#check()
    const path = join(this.#dir(kind, name), name)
    let lease: Lease
    try {
      lease = await this.#fds.acquire(path)
    } catch (err) {
      if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') throw notFound(this.location, kind, name)
      throw this.#io(`read ${kind} ${name}`, err)
    }
    try {
      const end = rangeEnd(this.location, kind, name, range, lease.size)
      const data = await readRange(lease.fd, range.start, end)
      if (data === undefined) {
        throw new StorageError('STORAGE_SHORT_READ', `${this.location}: ${kind} ${name} ended early`)
      }
      return data
    } catch (err) {
      if (err instanceof StorageError) throw err
      throw this.#io(`read ${kind} ${name}`, err)
    } finally {
      lease.release()
    }
  }

  async stat(kind: ObjectKind, name: string): Promise<number | undefined> {
    checkName(this.location, kind, name)
    this.#check()
    try {
      return (await fsp.stat(join(this.#dir(kind, name), name))).size
    } catch (err) {
      if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') return undefined
      throw this.#io(`stat ${kind} ${name}`, err)
    }
  }

  async *list(kind: ObjectKind): AsyncIterable<ObjectInfo> {
    this.#check()
    const { dir, fanout } = KIND_DIRS[kind]
    const top = join(this.root, dir)
    if (!fanout) {
      yield* this.#listDir(top, '')
      return
    }
    for (const prefix of await this.#readdir(top)) {
      if (!prefix.startsWith('.')) yield* this.#listDir(join(top, prefix), prefix)
    }
  }

  async delete(kind: ObjectKind, name: string): Promise<void> {
    checkName(this.location, kind, name)
    this.#check()
    const dir = this.#dir(kind, name)
    this.#fds.evict(join(dir, name))
    try {
      await fsp.unlink(join(dir, name))
      await syncDir(dir)
    } catch (err) {
      if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') return
      throw this.#io(`delete ${kind} ${name}`, err)
    }
  }

  async clean(olderThanMs = 3_600_000): Promise<number> {
    this.#check()
    const cutoff = Date.now() - olderThanMs
    let removed = 0
    const sweep = async (dir: string): Promise<void> => {
      for (const entry of await this.#readdir(dir)) {
        if (!entry.startsWith(TEMP_PREFIX)) continue
        const path = join(dir, entry)
        const info = await fsp.lstat(path).catch(() => undefined)
        if (info === undefined || (!tempWriterDead(entry) && info.mtimeMs >= cutoff)) continue
        await fsp.rm(path, { force: true })
        removed++
      }
    }
    await sweep(this.root)
    for (const { dir, fanout } of Object.values(KIND_DIRS)) {
      const top = join(this.root, dir)
      await sweep(top)
      if (fanout)
        for (const sub of await this.#readdir(top)) if (!sub.startsWith('.')) await sweep(join(top, sub))
    }
    return removed
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#fds.clear()
  }

  async *#listDir(dir: string, prefix: string): AsyncIterable<ObjectInfo> {
    for (const name of await this.#readdir(dir)) {
      // Temp files start with '.', strays fail the name rule; neither is an object.
      if (!/^[0-9a-z][0-9a-z-]{0,127}$/.test(name) || !name.startsWith(prefix)) continue
      const info = await fsp.stat(join(dir, name)).catch((err) => {
        if (errno(err) === 'ENOENT') return undefined
        throw this.#io(`list ${dir}`, err)
      })
      // Rounded: the ns timestamp comes back through doubles, a hair off the ms it was set to.
      if (info?.isFile()) yield { name, size: info.size, mtime: Math.round(info.mtimeMs) }
    }
  }

  /** Entries of a directory, read in one go (a few MB even for 100k names). */
  async #readdir(dir: string): Promise<string[]> {
    try {
      return await fsp.readdir(dir)
    } catch (err) {
      if (errno(err) === 'ENOTDIR' && dir !== this.root) return [] // a stray file where a fan-out directory goes
      if (errno(err) !== 'ENOENT') throw this.#io(`list ${dir}`, err)
      // A fan-out directory not made yet is empty; a missing repository is an error.
      if (!(await pathExists(join(this.root, LAYOUT_FILE)))) throw this.#noRepository()
      return []
    }
  }

  #dir(kind: ObjectKind, name: string): string {
    const { dir, fanout } = KIND_DIRS[kind]
    return fanout ? join(this.root, dir, name.slice(0, 2)) : join(this.root, dir)
  }

  /** Fan-out directories appear on first use; their parent is fsynced so they stay. */
  async #makeDir(kind: ObjectKind, dir: string): Promise<void> {
    if (!KIND_DIRS[kind].fanout || this.#dirsMade.has(dir)) return
    try {
      await fsp.mkdir(dir, { mode: 0o700 })
      await syncDir(dirname(dir))
    } catch (err) {
      if (errno(err) !== 'EEXIST') throw err
    }
    this.#dirsMade.add(dir)
  }

  /**
   * true: `target` holds exactly `data`, and its mtime is now that of this put; false: absent;
   * STORAGE_EXISTS: different bytes.
   */
  async #matchesExisting(kind: ObjectKind, name: string, target: string, data: Uint8Array): Promise<boolean> {
    let fh: FileHandle
    try {
      fh = await fsp.open(target, 'r')
    } catch (err) {
      if (errno(err) === 'ENOENT') return false
      throw err
    }
    try {
      if (!sameBytes(await fh.readFile(), data)) throw exists(this.location, kind, name)
      await touch(fh)
      return true
    } finally {
      await fh.close()
    }
  }

  async #refuseOccupied(): Promise<void> {
    let entries: string[]
    try {
      entries = await fsp.readdir(this.root)
    } catch (err) {
      if (errno(err) === 'ENOTDIR') {
        throw new StorageError('STORAGE_BAD_LOCATION', `${this.location}: not a directory`)
      }
      throw this.#io('create', err)
    }
    if (entries.includes(LAYOUT_FILE)) throw this.#alreadyThere()
    // An empty directory, or what an interrupted create() left: carry on.
    if (entries.some((e) => !OWN_ENTRIES.has(e) && !e.startsWith(TEMP_PREFIX))) {
      throw new StorageError('STORAGE_BAD_LOCATION', `${this.location}: directory is not empty`)
    }
  }

  #alreadyThere(): StorageError {
    return new StorageError('STORAGE_EXISTS', `${this.location}: a repository already exists here`)
  }

  #noRepository(): StorageError {
    return new StorageError('STORAGE_NOT_FOUND', `${this.location}: no repository here`)
  }

  #io(what: string, err: unknown): StorageError {
    return new StorageError('STORAGE_IO', `${this.location}: cannot ${what}: ${describe(err)}`, {
      cause: err,
    })
  }

  #check(): void {
    if (this.#closed) throw closedError(this.location)
  }
}

export const fsStoreFactory: StoreFactory = {
  scheme: 'fs',
  fromURL: (url) => new FsStore(urlPath(url)),
}
