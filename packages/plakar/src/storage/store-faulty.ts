/**
 * FaultyStore: wraps a Store and makes chosen calls fail, as media and crashes do, so that
 * the layers above can prove they never report success on lost data nor return garbage.
 * For tests; it is not registered under a scheme.
 *
 *   const s = new FaultyStore(inner, [{ method: 'put', kind: 'pack', nth: 3, action: 'fail' }])
 *
 * A fault matches calls by method, kind and name (each optional) and fires on the `nth`
 * matching call (1-based; default the first), then on the following ones until it has fired
 * `times` times (default 1; Infinity for a permanent failure). Actions:
 * - fail:       throw (STORAGE_INJECTED, or `error`) without calling the inner store.
 * - fail-after: call the inner store, then throw: the call took effect but its caller
 *               cannot know (a lost reply); a retry must be harmless.
 * - truncate:   (put) store only the first `keep` bytes (default half), then throw: the torn
 *               object a crash leaves on a medium without atomic puts. The inner store
 *               holds it afterwards, for the layers above to detect.
 * - corrupt:    (get) return the inner bytes with the bit at byte `at` (default the middle)
 *               flipped; the stored object stays intact.
 * For list, `fail` and `fail-after` throw after `keep` items (default 0) were yielded.
 */
import { StorageError } from '../errors.js'
import type { ObjectInfo, ObjectKind, Store } from './store.js'

export type StoreMethod = 'create' | 'open' | 'put' | 'get' | 'stat' | 'list' | 'delete' | 'clean' | 'close'

export interface Fault {
  readonly method?: StoreMethod
  readonly kind?: ObjectKind
  readonly name?: string
  readonly nth?: number
  readonly times?: number
  readonly action: 'fail' | 'fail-after' | 'truncate' | 'corrupt'
  readonly keep?: number
  readonly at?: number
  readonly error?: Error
}

export interface Call {
  readonly method: StoreMethod
  readonly kind?: ObjectKind | undefined
  readonly name?: string | undefined
}

interface Armed {
  readonly fault: Fault
  seen: number
  fired: number
}

export class FaultyStore implements Store {
  readonly inner: Store
  /** Every call made through this store, in order. */
  readonly calls: Call[] = []
  #armed: Armed[] = []

  constructor(inner: Store, faults: readonly Fault[] = []) {
    this.inner = inner
    for (const f of faults) this.inject(f)
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

  inject(fault: Fault): void {
    if (fault.action === 'truncate' && fault.method !== 'put')
      throw new TypeError('a truncate fault needs method: put')
    if (fault.action === 'corrupt' && fault.method !== 'get')
      throw new TypeError('a corrupt fault needs method: get')
    this.#armed.push({ fault, seen: 0, fired: 0 })
  }

  /** Remove every fault not yet spent (e.g. to verify the inner store afterwards). */
  heal(): void {
    this.#armed = []
  }

  /** How many calls of `method` were made. */
  count(method: StoreMethod): number {
    return this.calls.filter((c) => c.method === method).length
  }

  async create(): Promise<void> {
    return this.#simple({ method: 'create' }, () => this.inner.create())
  }

  async open(): Promise<void> {
    return this.#simple({ method: 'open' }, () => this.inner.open())
  }

  async put(kind: ObjectKind, name: string, data: Uint8Array): Promise<void> {
    const call: Call = { method: 'put', kind, name }
    const fault = this.#fire(call)
    if (fault?.action === 'truncate') {
      const keep = Math.min(fault.keep ?? Math.floor(data.byteLength / 2), data.byteLength)
      await this.inner.put(kind, name, data.subarray(0, keep))
      throw this.#error(fault, call)
    }
    return this.#run(call, fault, () => this.inner.put(kind, name, data))
  }

  async get(kind: ObjectKind, name: string, offset?: number, length?: number): Promise<Uint8Array> {
    const call: Call = { method: 'get', kind, name }
    const fault = this.#fire(call)
    if (fault?.action === 'corrupt') {
      const data = Buffer.from(await this.inner.get(kind, name, offset, length))
      if (data.byteLength > 0) {
        const at = Math.min(fault.at ?? data.byteLength >> 1, data.byteLength - 1)
        data[at] = data[at]! ^ 0x10
      }
      return data
    }
    return this.#run(call, fault, () => this.inner.get(kind, name, offset, length))
  }

  async stat(kind: ObjectKind, name: string): Promise<number | undefined> {
    return this.#simple({ method: 'stat', kind, name }, () => this.inner.stat(kind, name))
  }

  async *list(kind: ObjectKind): AsyncIterable<ObjectInfo> {
    const call: Call = { method: 'list', kind }
    const fault = this.#fire(call)
    const limit = fault?.keep ?? 0
    if (fault?.action === 'fail' && limit === 0) throw this.#error(fault, call)
    let yielded = 0
    for await (const info of this.inner.list(kind)) {
      if (fault !== undefined && yielded === limit) throw this.#error(fault, call)
      yield info
      yielded++
    }
    if (fault !== undefined) throw this.#error(fault, call)
  }

  async delete(kind: ObjectKind, name: string): Promise<void> {
    return this.#simple({ method: 'delete', kind, name }, () => this.inner.delete(kind, name))
  }

  async clean(olderThanMs?: number): Promise<number> {
    return this.#simple({ method: 'clean' }, () => this.inner.clean(olderThanMs))
  }

  async close(): Promise<void> {
    return this.#simple({ method: 'close' }, () => this.inner.close())
  }

  async #simple<T>(call: Call, step: () => Promise<T>): Promise<T> {
    return this.#run(call, this.#fire(call), step)
  }

  async #run<T>(call: Call, fault: Fault | undefined, step: () => Promise<T>): Promise<T> {
    if (fault === undefined) return step()
    if (fault.action === 'fail') throw this.#error(fault, call)
    await step()
    throw this.#error(fault, call)
  }

  /** Record the call; the fault that fires on it, if any. */
  #fire(call: Call): Fault | undefined {
    this.calls.push(call)
    for (const armed of this.#armed) {
      const f = armed.fault
      if (f.method !== undefined && f.method !== call.method) continue
      if (f.kind !== undefined && f.kind !== call.kind) continue
      if (f.name !== undefined && f.name !== call.name) continue
      armed.seen++
      if (armed.seen < (f.nth ?? 1) || armed.fired >= (f.times ?? 1)) continue
      armed.fired++
      return f
    }
    return undefined
  }

  #error(fault: Fault, call: Call): Error {
    if (fault.error !== undefined) return fault.error
    const what = [call.method, call.kind, call.name].filter((x) => x !== undefined).join(' ')
    return new StorageError('STORAGE_INJECTED', `${this.location}: injected ${fault.action} on ${what}`)
  }
}
