/**
 * memory://name: objects in this process's memory, shared by every Store opened on the
 * same name until the process exits. For tests and for composing with the decorators;
 * it cannot be shared with other processes.
 */
import { StorageError } from '../errors.js'
import { checkName, checkRange, closedError, exists, notFound, rangeEnd, sameBytes } from './checks.js'
import type { ObjectInfo, ObjectKind, Store, StoreFactory } from './store.js'

interface Stored {
  readonly data: Uint8Array
  readonly mtime: number
}
type Objects = Map<string, Stored>
const stores = new Map<string, Map<ObjectKind, Objects>>()

export class MemoryStore implements Store {
  readonly location: string
  /** Every call is one synchronous step: in-flight requests only bound the buffers held. */
  readonly concurrency = 256
  readonly largePuts = 1
  readonly #name: string
  #closed = false

  constructor(name: string) {
    this.#name = name
    this.location = `memory://${name}`
  }

  async create(): Promise<void> {
    this.#check()
    if (stores.has(this.#name)) {
      throw new StorageError('STORAGE_EXISTS', `${this.location}: a repository already exists here`)
    }
    stores.set(this.#name, new Map())
  }

  async open(): Promise<void> {
    this.#objects('config')
  }

  async put(kind: ObjectKind, name: string, data: Uint8Array): Promise<void> {
    checkName(this.location, kind, name)
    const objects = this.#objects(kind)
    const old = objects.get(name)
    if (old === undefined) objects.set(name, { data: Buffer.from(data), mtime: Date.now() })
    else if (!sameBytes(old.data, data)) throw exists(this.location, kind, name)
    else objects.set(name, { data: old.data, mtime: Math.max(old.mtime, Date.now()) })
  }

  async get(kind: ObjectKind, name: string, offset?: number, length?: number): Promise<Uint8Array> {
    checkName(this.location, kind, name)
    const range = checkRange(offset, length)
    const data = this.#objects(kind).get(name)?.data
    if (data === undefined) throw notFound(this.location, kind, name)
    return Buffer.from(
      data.subarray(range.start, rangeEnd(this.location, kind, name, range, data.byteLength)),
    )
  }

  async stat(kind: ObjectKind, name: string): Promise<number | undefined> {
    checkName(this.location, kind, name)
    return this.#objects(kind).get(name)?.data.byteLength
  }

  async *list(kind: ObjectKind): AsyncIterable<ObjectInfo> {
    // A copy taken when list begins, so that a delete and re-put during the listing
    // cannot yield a name twice.
    const entries = [...this.#objects(kind)]
    for (const [name, { data, mtime }] of entries) yield { name, size: data.byteLength, mtime }
  }

  async delete(kind: ObjectKind, name: string): Promise<void> {
    checkName(this.location, kind, name)
    this.#objects(kind).delete(name)
  }

  /** A put here is one synchronous step: nothing is ever left half done. */
  async clean(): Promise<number> {
    this.#objects('config')
    return 0
  }

  async close(): Promise<void> {
    this.#closed = true
  }

  /** Drop every object of this name from the process (for tests that make many stores). */
  async destroy(): Promise<void> {
    stores.delete(this.#name)
    this.#closed = true
  }

  #check(): void {
    if (this.#closed) throw closedError(this.location)
  }

  #objects(kind: ObjectKind): Objects {
    this.#check()
    const kinds = stores.get(this.#name)
    if (kinds === undefined) {
      throw new StorageError('STORAGE_NOT_FOUND', `${this.location}: no repository here`)
    }
    let objects = kinds.get(kind)
    if (objects === undefined) {
      objects = new Map()
      kinds.set(kind, objects)
    }
    return objects
  }
}

export const memoryStoreFactory: StoreFactory = {
  scheme: 'memory',
  fromURL(url: URL): Store {
    const name = url.host
    if (!/^[A-Za-z0-9._-]+$/.test(name) || url.pathname.replace(/^\/$/, '') !== '') {
      throw new StorageError('STORAGE_BAD_LOCATION', `${url.href}: want memory://name`)
    }
    return new MemoryStore(name)
  },
}
