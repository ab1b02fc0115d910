/**
 * ReadOnlyStore: a Store through which nothing can be written (for commands that only
 * read, and for serving a repository read-only later). Writes fail with
 * `STORAGE_READ_ONLY` before reaching the inner store.
 */
import { StorageError } from '../errors.js'
import type { ObjectInfo, ObjectKind, Store } from './store.js'

export class ReadOnlyStore implements Store {
  readonly inner: Store

  constructor(inner: Store) {
    this.inner = inner
  }

  get location(): string {
    return this.inner.location
  }

  get concurrency(): number {
    return this.inner.concurrency
  }

  get largePuts(): number {
    return this.inner.largePuts
  }

  async create(): Promise<void> {
    throw this.#refuse('create a repository')
  }

  open(): Promise<void> {
    return this.inner.open()
  }

  async put(kind: ObjectKind, name: string, _data: Uint8Array): Promise<void> {
    throw this.#refuse(`write ${kind} ${name}`)
  }

  get(kind: ObjectKind, name: string, offset?: number, length?: number): Promise<Uint8Array> {
    return this.inner.get(kind, name, offset, length)
  }

  stat(kind: ObjectKind, name: string): Promise<number | undefined> {
    return this.inner.stat(kind, name)
  }

  list(kind: ObjectKind): AsyncIterable<ObjectInfo> {
    return this.inner.list(kind)
  }

  async delete(kind: ObjectKind, name: string): Promise<void> {
    throw this.#refuse(`delete ${kind} ${name}`)
  }

  async clean(): Promise<number> {
    throw this.#refuse('clean')
  }

  close(): Promise<void> {
    return this.inner.close()
  }

  #refuse(what: string): StorageError {
    return new StorageError('STORAGE_READ_ONLY', `${this.location}: read-only, cannot ${what}`)
  }
}
