/**
 * The one conformance suite every Store backend runs (restic's backend tests in spirit):
 *
 *   storeConformance('sqlite', { freshLocation: () => `sqlite://${dir}/${n++}.db` })
 *
 * It holds a backend to the contract in src/storage/store.ts through openStore(), so a
 * backend is tested as users reach it, and other processes (child.ts) can open the same
 * location. Backends that cannot be shared across processes pass `multiProcess: { skip }`.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { isPlakarError } from '@poolp/plakar'
import {
  OBJECT_KINDS,
  type ObjectInfo,
  type ObjectKind,
  openStore,
  ReadOnlyStore,
  type Store,
} from '@poolp/plakar/storage'
import { FaultyStore } from '@poolp/plakar/testing'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { objectBytes, objectName, objectSize } from './objects.js'

export interface ConformanceOptions {
  /** A location that no other test uses and where nothing exists yet. */
  freshLocation(): string | Promise<string>
  /** Whether other processes can open the same location; a skip carries its reason. */
  multiProcess?: true | { skip: string }
  /**
   * Make the medium record `mtime` for an existing object, as if it had been put then
   * (through the medium, not the Store); a skip carries its reason.
   */
  backdate:
    | ((location: string, kind: ObjectKind, name: string, mtime: number) => Promise<void>)
    | { skip: string }
}

/**
 * How far a recorded mtime may stray from the reader's clock around the put (store.ts):
 * no skew here (one machine), but the medium's granularity (2 s on FAT; on others the
 * kernel stamps files from a clock up to a tick behind Date.now()).
 */
const SLACK_MS = 2000

/** `info` carries an mtime of a put that ran between `before` and `after` (Date.now()). */
function putBetween(info: ObjectInfo, before: number, after: number): void {
  expect(Number.isInteger(info.mtime), `${info.name}: mtime ${info.mtime}`).toBe(true)
  expect(info.mtime, `${info.name}: mtime before the put`).toBeGreaterThanOrEqual(before - SLACK_MS)
  expect(info.mtime, `${info.name}: mtime after the put`).toBeLessThanOrEqual(after + SLACK_MS)
}

const here = dirname(fileURLToPath(import.meta.url))
const repoRoot = join(here, '../../../..')

/** Rejects with a StorageError of `code` (and not with anything else). */
async function failsWith(promise: Promise<unknown>, code: string): Promise<Error> {
  try {
    await promise
  } catch (err) {
    if (!isPlakarError(err, code)) throw new Error(`expected ${code}, got ${String(err)}`, { cause: err })
    expect((err as Error).message).not.toContain('\n')
    return err as Error
  }
  throw new Error(`expected ${code}, but it succeeded`)
}

async function names(store: Store, kind: ObjectKind): Promise<string[]> {
  return (await infos(store, kind)).map((info) => info.name)
}

/** What list(kind) yields, by name. */
async function infos(store: Store, kind: ObjectKind): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = []
  for await (const info of store.list(kind)) out.push(info)
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}

async function infoOf(store: Store, kind: ObjectKind, name: string): Promise<ObjectInfo> {
  const info = (await infos(store, kind)).find((i) => i.name === name)
  if (info === undefined) throw new Error(`${kind} ${name} is not listed`)
  return info
}

export function storeConformance(backend: string, options: ConformanceOptions): void {
  const fresh = async (): Promise<Store> => {
    const store = openStore(await options.freshLocation())
    await store.create()
    return store
  }

  describe(`Store conformance: ${backend}`, () => {
    // A failed test must not leave writers running into the next one (or into cleanup).
    afterEach(() => {
      for (const child of living) child.kill('SIGKILL')
    })

    describe('location', () => {
      it('open and put fail with STORAGE_NOT_FOUND before create', async () => {
        const store = openStore(await options.freshLocation())
        await failsWith(store.open(), 'STORAGE_NOT_FOUND')
        await failsWith(store.put('pack', 'ab', Buffer.from('x')), 'STORAGE_NOT_FOUND')
        await store.close()
      })

      it('create then open from another instance; a second create fails with STORAGE_EXISTS', async () => {
        const location = await options.freshLocation()
        const first = openStore(location)
        await first.create()
        await first.put('config', 'config', Buffer.from('c'))
        const second = openStore(location)
        await second.open()
        expect(Buffer.from(await second.get('config', 'config')).toString()).toBe('c')
        await failsWith(openStore(location).create(), 'STORAGE_EXISTS')
        expect(second.location).toBe(first.location)
        await first.close()
        await second.close()
      })

      it('a closed store fails with STORAGE_CLOSED', async () => {
        const store = await fresh()
        await store.close()
        await failsWith(store.get('pack', 'ab'), 'STORAGE_CLOSED')
        await failsWith(store.put('pack', 'ab', Buffer.from('x')), 'STORAGE_CLOSED')
      })
    })

    describe('names', () => {
      const good = [
        '0',
        'config',
        'a'.repeat(128),
        objectName('n', 1),
        '99e53a9c-e503-4c32-8622-924bf966f15b',
      ]
      const bad = [
        '',
        'A',
        'Ab',
        '-a',
        '.a',
        '.tmp-x',
        'a/b',
        '../x',
        'a b',
        'a.b',
        'é',
        'a\0',
        'a'.repeat(129),
      ]

      it('accepts hex ids, UUIDs and config', async () => {
        const store = await fresh()
        for (const name of good) {
          await store.put('snapshot', name, Buffer.from(name))
          expect(Buffer.from(await store.get('snapshot', name)).toString()).toBe(name)
        }
        expect(await names(store, 'snapshot')).toEqual([...good].sort())
        await store.close()
      })

      it('rejects other names with STORAGE_BAD_NAME before touching the medium', async () => {
        // The store was never created: reaching the medium would say STORAGE_NOT_FOUND.
        const store = openStore(await options.freshLocation())
        for (const name of bad) {
          await failsWith(store.put('pack', name, Buffer.from('x')), 'STORAGE_BAD_NAME')
          await failsWith(store.get('pack', name), 'STORAGE_BAD_NAME')
          await failsWith(store.stat('pack', name), 'STORAGE_BAD_NAME')
          await failsWith(store.delete('pack', name), 'STORAGE_BAD_NAME')
        }
        await store.close()
      })
    })

    describe('put and get', () => {
      it('round-trips objects of every kind and awkward sizes', async () => {
        const store = await fresh()
        const sizes = [0, 1, 4095, 65_535, 65_536, 65_537, (1 << 20) + 3]
        for (const kind of OBJECT_KINDS) {
          for (const size of sizes) {
            const name = objectName(kind, size)
            await store.put(kind, name, objectBytes(name, size))
          }
        }
        for (const kind of OBJECT_KINDS) {
          for (const size of sizes) {
            const name = objectName(kind, size)
            const got = await store.get(kind, name)
            expect(got.byteLength).toBe(size)
            expect(Buffer.from(got).equals(objectBytes(name, size))).toBe(true)
            expect(await store.stat(kind, name)).toBe(size)
          }
        }
        await store.close()
      })

      it('kinds are separate namespaces', async () => {
        const store = await fresh()
        await store.put('pack', 'abc', Buffer.from('pack'))
        await store.put('index', 'abc', Buffer.from('index'))
        expect(Buffer.from(await store.get('pack', 'abc')).toString()).toBe('pack')
        expect(Buffer.from(await store.get('index', 'abc')).toString()).toBe('index')
        expect(await store.stat('snapshot', 'abc')).toBeUndefined()
        await store.close()
      })

      it('neither the caller’s buffer nor the returned one aliases the stored object', async () => {
        const store = await fresh()
        const data = Buffer.from('immutable')
        await store.put('pack', 'aa', data)
        data.fill(0)
        const got = await store.get('pack', 'aa')
        expect(Buffer.from(got).toString()).toBe('immutable')
        got.fill(0)
        expect(Buffer.from(await store.get('pack', 'aa')).toString()).toBe('immutable')
        await store.close()
      })

      it('accepts a Uint8Array view into a larger buffer', async () => {
        const store = await fresh()
        const big = Buffer.from('0123456789')
        await store.put('pack', 'ab', new Uint8Array(big.buffer, big.byteOffset + 2, 5))
        expect(Buffer.from(await store.get('pack', 'ab')).toString()).toBe('23456')
        await store.close()
      })

      it('a missing object: get fails with STORAGE_NOT_FOUND, stat is undefined, delete succeeds', async () => {
        const store = await fresh()
        await failsWith(store.get('pack', 'ff'), 'STORAGE_NOT_FOUND')
        await failsWith(store.get('pack', 'ff', 0, 1), 'STORAGE_NOT_FOUND')
        expect(await store.stat('pack', 'ff')).toBeUndefined()
        await store.delete('pack', 'ff')
        await store.close()
      })
    })

    describe('immutability', () => {
      it('putting identical bytes again succeeds; different bytes fail with STORAGE_EXISTS', async () => {
        const store = await fresh()
        const name = objectName('imm', 0)
        const data = objectBytes(name, 100_000)
        await store.put('pack', name, data)
        await store.put('pack', name, Buffer.from(data))
        const changed = Buffer.from(data)
        changed[99_999] = changed[99_999]! ^ 1
        await failsWith(store.put('pack', name, changed), 'STORAGE_EXISTS')
        await failsWith(store.put('pack', name, data.subarray(1)), 'STORAGE_EXISTS')
        await failsWith(store.put('pack', name, Buffer.alloc(0)), 'STORAGE_EXISTS')
        expect(Buffer.from(await store.get('pack', name)).equals(data)).toBe(true)
        expect(await names(store, 'pack')).toEqual([name])
        await store.close()
      })

      it('an empty object is immutable too', async () => {
        const store = await fresh()
        await store.put('lock', 'aa', Buffer.alloc(0))
        await store.put('lock', 'aa', Buffer.alloc(0))
        await failsWith(store.put('lock', 'aa', Buffer.from('x')), 'STORAGE_EXISTS')
        await store.close()
      })
    })

    describe('ranges', () => {
      it('returns exactly the bytes asked for', async () => {
        const store = await fresh()
        const size = 300_001
        const name = objectName('range', 0)
        const data = objectBytes(name, size)
        await store.put('pack', name, data)
        const cases: [number, number | undefined][] = [
          [0, 0],
          [0, 1],
          [0, size],
          [size, 0],
          [size - 1, 1],
          [65_535, 2],
          [65_536, 65_536],
          [1000, 200_000],
          [123_457, undefined],
          [size, undefined],
        ]
        for (const [offset, length] of cases) {
          const got = Buffer.from(await store.get('pack', name, offset, length))
          const end = length === undefined ? size : offset + length
          expect(got.equals(data.subarray(offset, end)), `${offset}+${length}`).toBe(true)
        }
        await store.close()
      })

      it('a range past the end fails with STORAGE_SHORT_READ, never a short result', async () => {
        const store = await fresh()
        await store.put('pack', 'ab', Buffer.from('0123456789'))
        await failsWith(store.get('pack', 'ab', 9, 2), 'STORAGE_SHORT_READ')
        await failsWith(store.get('pack', 'ab', 0, 11), 'STORAGE_SHORT_READ')
        await failsWith(store.get('pack', 'ab', 11, 0), 'STORAGE_SHORT_READ')
        await failsWith(store.get('pack', 'ab', 11), 'STORAGE_SHORT_READ')
        await store.put('pack', 'cd', Buffer.alloc(0))
        await failsWith(store.get('pack', 'cd', 0, 1), 'STORAGE_SHORT_READ')
        await store.close()
      })

      it('a negative or fractional range is a bug (RangeError)', async () => {
        const store = await fresh()
        await store.put('pack', 'ab', Buffer.from('0123456789'))
        await expect(store.get('pack', 'ab', -1, 1)).rejects.toThrow(RangeError)
        await expect(store.get('pack', 'ab', 1.5, 1)).rejects.toThrow(RangeError)
        await expect(store.get('pack', 'ab', 0, -1)).rejects.toThrow(RangeError)
        await store.close()
      })
    })

    describe('list and delete', () => {
      it('lists each object of a kind exactly once, with its size and the time of its put', async () => {
        const store = await fresh()
        const before = Date.now()
        const expected = new Map<string, number>()
        // Past a thousand: beyond the page a backend might use to list in pieces.
        const all = Array.from({ length: 1001 }, (_, i) => objectName('list', i))
        for (let i = 0; i < all.length; i += 100) {
          await Promise.all(
            all.slice(i, i + 100).map((name) => {
              const size = objectSize(name, 300)
              expected.set(name, size)
              return store.put('pack', name, objectBytes(name, size))
            }),
          )
        }
        await store.put('index', 'ab', Buffer.from('not a pack'))
        const after = Date.now()
        const seen = new Map<string, number>()
        for await (const info of store.list('pack')) {
          expect(seen.has(info.name), `${info.name} listed twice`).toBe(false)
          seen.set(info.name, info.size)
          putBetween(info, before, after)
        }
        expect(seen).toEqual(expected)
        expect(await names(store, 'snapshot')).toEqual([])
        expect(await names(store, 'index')).toEqual(['ab'])
        await store.close()
      })

      it('objects untouched during a listing are listed once despite puts and deletes meanwhile', async () => {
        const store = await fresh()
        const before = Array.from({ length: 40 }, (_, i) => objectName('before', i))
        for (const name of before) await store.put('index', name, objectBytes(name, 10))
        const seen: string[] = []
        let i = 0
        for await (const { name } of store.list('index')) {
          seen.push(name)
          const extra = objectName('during', i++)
          await store.put('index', extra, objectBytes(extra, 10))
          if (i === 5) await store.delete('index', before[39]!)
        }
        expect(new Set(seen).size).toBe(seen.length)
        for (const name of before.slice(0, 39)) expect(seen).toContain(name)
        await store.close()
      })

      it('delete removes the object; its name can then hold other bytes', async () => {
        const store = await fresh()
        await store.put('lock', 'ab', Buffer.from('first'))
        await store.delete('lock', 'ab')
        await failsWith(store.get('lock', 'ab'), 'STORAGE_NOT_FOUND')
        expect(await store.stat('lock', 'ab')).toBeUndefined()
        expect(await names(store, 'lock')).toEqual([])
        await store.delete('lock', 'ab')
        await store.put('lock', 'ab', Buffer.from('second'))
        expect(Buffer.from(await store.get('lock', 'ab')).toString()).toBe('second')
        await store.close()
      })

      it('another instance sees a delete and a new put under the same name at once', async () => {
        const location = await options.freshLocation()
        const [a, b] = [openStore(location), openStore(location)]
        await a.create()
        for (const kind of ['pack', 'lock'] as const) {
          await a.put(kind, 'ab', Buffer.from('first'))
          expect(Buffer.from(await b.get(kind, 'ab', 1, 2)).toString()).toBe('ir')
          await a.delete(kind, 'ab')
          await failsWith(b.get(kind, 'ab'), 'STORAGE_NOT_FOUND')
          await a.put(kind, 'ab', Buffer.from('second!'))
          expect(Buffer.from(await b.get(kind, 'ab')).toString()).toBe('second!')
          await a.delete(kind, 'ab')
          await a.put(kind, 'ab', Buffer.from('third'))
          expect(Buffer.from(await b.get(kind, 'ab', 0, 5)).toString()).toBe('third')
        }
        await a.close()
        await b.close()
      })

      it('clean() leaves complete objects alone', async () => {
        const store = await fresh()
        await store.put('pack', 'ab', Buffer.from('kept'))
        expect(await store.clean(0)).toBeGreaterThanOrEqual(0)
        expect(Buffer.from(await store.get('pack', 'ab')).toString()).toBe('kept')
        await store.close()
      })
    })

    describe('mtime', () => {
      it('a fresh object lists with the time of its put, the same in every listing and instance', async () => {
        const location = await options.freshLocation()
        const store = openStore(location)
        await store.create()
        const before = Date.now()
        for (const kind of OBJECT_KINDS) await store.put(kind, objectName(kind, 0), objectBytes(kind, 100))
        await store.put('pack', 'ab', Buffer.alloc(0))
        const after = Date.now()
        const other = openStore(location)
        for (const kind of OBJECT_KINDS) {
          const listed = await infos(store, kind)
          expect(listed.length).toBe(kind === 'pack' ? 2 : 1)
          for (const info of listed) putBetween(info, before, after)
          expect(await infos(store, kind)).toEqual(listed)
          expect(await infos(other, kind)).toEqual(listed)
        }
        await store.close()
        await other.close()
      })

      const backdate = options.backdate
      const itBackdated = typeof backdate === 'function' ? it : it.skip
      const why = typeof backdate === 'function' ? '' : ` (skipped: ${backdate.skip})`
      itBackdated(
        `list reports the recorded time; a re-put moves it to its own, never back${why}`,
        async () => {
          if (typeof backdate !== 'function') return
          const store = await fresh()
          const year = 365 * 86_400_000
          for (const kind of ['pack', 'lock'] as const) {
            const name = objectName(`mtime-${kind}`, 0)
            const data = objectBytes(name, 70_000)
            await store.put(kind, name, data)
            const old = Date.now() - year
            await backdate(store.location, kind, name, old)
            expect((await infoOf(store, kind, name)).mtime).toBe(old)
            // A put that fails changes nothing; one of the same bytes counts as a put.
            await failsWith(store.put(kind, name, Buffer.alloc(3)), 'STORAGE_EXISTS')
            expect((await infoOf(store, kind, name)).mtime).toBe(old)
            const before = Date.now()
            await store.put(kind, name, Buffer.from(data))
            putBetween(await infoOf(store, kind, name), before, Date.now())
            // A medium whose clock ran ahead: the re-put leaves the later time.
            const ahead = Date.now() + year
            await backdate(store.location, kind, name, ahead)
            await store.put(kind, name, data)
            expect((await infoOf(store, kind, name)).mtime).toBe(ahead)
          }
          await store.close()
        },
      )
    })

    describe('concurrency and decorators', () => {
      it('concurrency and largePuts are positive integers, largePuts at most concurrency, the same for every instance of a location', async () => {
        const store = await fresh()
        expect(Number.isInteger(store.concurrency) && store.concurrency > 0, `${store.concurrency}`).toBe(
          true,
        )
        expect(Number.isInteger(store.largePuts) && store.largePuts > 0, `${store.largePuts}`).toBe(true)
        expect(store.largePuts).toBeLessThanOrEqual(store.concurrency)
        const other = openStore(store.location)
        expect(other.concurrency).toBe(store.concurrency)
        expect(other.largePuts).toBe(store.largePuts)
        await store.close()
        await other.close()
      })

      it('ReadOnlyStore and FaultyStore forward location, concurrency, largePuts and listings whole', async () => {
        const store = await fresh()
        await store.put('pack', 'ab', Buffer.from('x'))
        await store.put('pack', 'cd', Buffer.from('yy'))
        const listed = await infos(store, 'pack')
        for (const decorated of [new ReadOnlyStore(store), new FaultyStore(store)]) {
          expect(decorated.location).toBe(store.location)
          expect(decorated.concurrency).toBe(store.concurrency)
          expect(decorated.largePuts).toBe(store.largePuts)
          expect(await infos(decorated, 'pack')).toEqual(listed)
        }
        await store.close()
      })
    })

    describe('model', () => {
      // Random sequences of operations give the same results (values and error codes) as a
      // plain map of immutable byte strings: the contract, stated as a model.
      const kinds = fc.constantFrom('pack' as const, 'lock' as const)
      // Few names and contents, so that sequences often hit the same name twice.
      const names = fc.constantFrom('a', '99e53a9c-e503-4c32-8622-924bf966f15b')
      const datas = fc
        .constantFrom(0, 5, 70_000)
        .chain((size) => fc.constantFrom(Buffer.alloc(size, 1), Buffer.alloc(size, 2)))
      const op = fc.oneof(
        fc.record({ op: fc.constant('put' as const), kind: kinds, name: names, data: datas }),
        fc.record({
          op: fc.constant('get' as const),
          kind: kinds,
          name: names,
          offset: fc.option(fc.nat(70_010), { nil: undefined }),
          length: fc.option(fc.nat(70_010), { nil: undefined }),
        }),
        fc.record({ op: fc.constant('stat' as const), kind: kinds, name: names }),
        fc.record({ op: fc.constant('delete' as const), kind: kinds, name: names }),
        fc.record({ op: fc.constant('list' as const), kind: kinds }),
      )

      it('behaves like a map of immutable objects under random operations', async () => {
        await fc.assert(
          fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 24, size: 'max' }), async (ops) => {
            const store = await fresh()
            const model = new Map<string, Buffer>()
            const attempt = async (f: () => Promise<unknown>) => {
              try {
                return { value: await f() }
              } catch (err) {
                if (!isPlakarError(err)) throw err
                return { code: err.code }
              }
            }
            for (const o of ops) {
              const key = `${o.kind}/${'name' in o ? o.name : ''}`
              const old = model.get(key)
              if (o.op === 'put') {
                const got = await attempt(() => store.put(o.kind, o.name, o.data))
                if (old === undefined) model.set(key, o.data)
                expect(got).toEqual(
                  old === undefined || old.equals(o.data) ? { value: undefined } : { code: 'STORAGE_EXISTS' },
                )
              } else if (o.op === 'get') {
                const length = o.offset === undefined ? undefined : o.length
                const got = await attempt(async () =>
                  Buffer.from(await store.get(o.kind, o.name, o.offset, length)),
                )
                const start = o.offset ?? 0
                const end = length === undefined ? Math.max(start, old?.byteLength ?? 0) : start + length
                const want =
                  old === undefined
                    ? { code: 'STORAGE_NOT_FOUND' }
                    : end > old.byteLength
                      ? { code: 'STORAGE_SHORT_READ' }
                      : { value: old.subarray(start, end) }
                expect(got).toEqual(want)
              } else if (o.op === 'stat') {
                expect(await store.stat(o.kind, o.name)).toBe(old?.byteLength)
              } else if (o.op === 'delete') {
                await store.delete(o.kind, o.name)
                model.delete(key)
              } else {
                const listed: [string, number][] = []
                for await (const { name, size } of store.list(o.kind)) listed.push([name, size])
                const want = [...model]
                  .filter(([k]) => k.startsWith(`${o.kind}/`))
                  .map(([k, v]): [string, number] => [k.slice(o.kind.length + 1), v.byteLength])
                expect(listed.sort()).toEqual(want.sort())
              }
            }
            await store.close()
          }),
          { numRuns: 20 },
        )
      }, 60_000)
    })

    describe('concurrency in one process', () => {
      it('concurrent identical puts all succeed; of different bytes exactly one wins', async () => {
        const location = await options.freshLocation()
        const stores = [openStore(location), openStore(location), openStore(location)]
        await stores[0]!.create()
        const name = objectName('same', 0)
        const data = objectBytes(name, 300_000)
        await Promise.all(stores.flatMap((s) => [s.put('pack', name, data), s.put('pack', name, data)]))
        const racers = Array.from({ length: 9 }, (_, i) =>
          stores[i % 3]!.put('lock', 'race', Buffer.from(`holder ${i}`)),
        )
        const results = await Promise.allSettled(racers)
        const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []))
        expect(winners.length).toBe(1)
        for (const r of results) {
          if (r.status === 'rejected') expect(isPlakarError(r.reason, 'STORAGE_EXISTS')).toBe(true)
        }
        expect(Buffer.from(await stores[1]!.get('lock', 'race')).toString()).toBe(`holder ${winners[0]}`)
        for (const s of stores) await s.close()
      })
    })

    describe('fault injection', () => {
      it('a put that fails leaves nothing; others are intact; a retry succeeds', async () => {
        const faulty = new FaultyStore(await fresh(), [{ method: 'put', nth: 2, action: 'fail' }])
        const [a, b, c] = [objectName('f', 1), objectName('f', 2), objectName('f', 3)]
        await faulty.put('pack', a, objectBytes(a))
        await failsWith(faulty.put('pack', b, objectBytes(b)), 'STORAGE_INJECTED')
        await faulty.put('pack', c, objectBytes(c))
        expect(await faulty.stat('pack', b)).toBeUndefined()
        expect(await names(faulty, 'pack')).toEqual([a, c].sort())
        await faulty.put('pack', b, objectBytes(b))
        expect(Buffer.from(await faulty.get('pack', b)).equals(objectBytes(b))).toBe(true)
        await faulty.close()
      })

      it('a put whose reply is lost took effect, and retrying it is harmless', async () => {
        const faulty = new FaultyStore(await fresh(), [{ method: 'put', action: 'fail-after' }])
        const name = objectName('lost', 0)
        await failsWith(faulty.put('index', name, objectBytes(name)), 'STORAGE_INJECTED')
        await faulty.put('index', name, objectBytes(name))
        expect(Buffer.from(await faulty.get('index', name)).equals(objectBytes(name))).toBe(true)
        await faulty.close()
      })

      it('a corrupted read differs from the object, which stays intact', async () => {
        const inner = await fresh()
        const faulty = new FaultyStore(inner, [{ method: 'get', action: 'corrupt' }])
        const name = objectName('corrupt', 0)
        await faulty.put('pack', name, objectBytes(name, 1000))
        expect(Buffer.from(await faulty.get('pack', name)).equals(objectBytes(name, 1000))).toBe(false)
        expect(Buffer.from(await faulty.get('pack', name)).equals(objectBytes(name, 1000))).toBe(true)
        expect(
          Buffer.from(await inner.get('pack', name, 400, 200)).equals(
            objectBytes(name, 1000).subarray(400, 600),
          ),
        ).toBe(true)
        await faulty.close()
      })

      it('a listing that fails part way raises, after yielding only complete objects', async () => {
        const faulty = new FaultyStore(await fresh(), [{ method: 'list', action: 'fail', keep: 2 }])
        for (let i = 0; i < 5; i++)
          await faulty.put('snapshot', objectName('l', i), objectBytes(objectName('l', i), 10))
        const seen: string[] = []
        await failsWith(
          (async () => {
            for await (const { name } of faulty.list('snapshot')) seen.push(name)
          })(),
          'STORAGE_INJECTED',
        )
        expect(seen.length).toBe(2)
        expect((await names(faulty, 'snapshot')).length).toBe(5)
        await faulty.close()
      })
    })

    const multi = options.multiProcess ?? true
    const describeMulti = multi === true ? describe : describe.skip
    describeMulti(`several processes${multi === true ? '' : ` (skipped: ${multi.skip})`}`, () => {
      it('writers in three processes: shared names dedup, one exclusive winner, listings never partial', async () => {
        const store = await fresh()
        const before = Date.now()
        const count = 12
        const children = ['1', '2', '3'].map((me) => runChild(store.location, 'writers', { me, count }))
        const reports = await Promise.all(children.map((c) => c.finished))
        const results = reports.map((lines) => lines.at(-1) as { lockWon: boolean; problems: string[] })
        expect(results.flatMap((r) => r.problems)).toEqual([])
        expect(results.filter((r) => r.lockWon).length).toBe(1)
        const expected = new Set<string>()
        for (let i = 0; i < count; i++) {
          expected.add(objectName('shared', i))
          for (const me of ['1', '2', '3']) expected.add(objectName(`own-${me}`, i))
        }
        const after = Date.now()
        const listed = await infos(store, 'pack')
        expect(listed.map((info) => info.name)).toEqual([...expected].sort())
        for (const info of listed) putBetween(info, before, after)
        for (const name of expected) {
          expect(Buffer.from(await store.get('pack', name)).equals(objectBytes(name)), name).toBe(true)
        }
        await store.close()
      }, 60_000)

      it('writers frozen or killed mid-put never expose a partial object; the next put works', async () => {
        const store = await fresh()
        const size = 4 << 20
        // What a reader can see at any instant is what a crash at that instant would leave.
        // Freeze each writer (SIGSTOP) at random moments and look: every visible object must
        // be whole. Then kill it (SIGKILL) just after it starts a put, and look again.
        const verified = new Set<string>()
        const look = async () => {
          for await (const { name, size: s } of store.list('pack')) {
            expect(s, `${name} visible with ${s} bytes`).toBe(size)
            if (verified.has(name)) continue
            expect(Buffer.from(await store.get('pack', name)).equals(objectBytes(name, size)), name).toBe(
              true,
            )
            verified.add(name)
          }
        }
        const rounds = [0, 1, 2]
        const completed = (
          await Promise.all(
            rounds.map(async (round) => {
              let started = 0
              let kill = false
              const child = runChild(store.location, 'put-loop', { tag: `kill-${round}`, size }, (event) => {
                if ((event as { putting?: string }).putting !== undefined && ++started >= 8 && kill) {
                  kill = false
                  setTimeout(() => child.process.kill('SIGKILL'), round * 2)
                }
              })
              await child.ready
              for (let sample = 0; sample < 12; sample++) {
                await new Promise((r) => setTimeout(r, Math.random() * 20))
                child.process.kill('SIGSTOP')
                try {
                  await look()
                } finally {
                  child.process.kill('SIGCONT')
                }
              }
              kill = true
              const lines = await child.finished.then(
                () => {
                  throw new Error('the writer was meant to be killed')
                },
                (err: { lines: unknown[] }) => err.lines,
              )
              return lines.flatMap((l) =>
                (l as { done?: string }).done ? [(l as { done: string }).done] : [],
              )
            }),
          )
        ).flat()
        await look()
        for (const name of completed) expect(verified.has(name), `completed put of ${name} lost`).toBe(true)
        // The objects being put when each writer died: absent, or whole (a writer may die after
        // its put took effect and before it said so: over a network, once the server has every
        // byte), and putting them works.
        for (const round of rounds) {
          for (let i = 0; i < 1000; i++) {
            const name = objectName(`kill-${round}`, i)
            if (verified.has(name)) continue
            const found = await store.stat('pack', name)
            if (found !== undefined) {
              expect(found).toBe(size)
              expect(Buffer.from(await store.get('pack', name)).equals(objectBytes(name, size))).toBe(true)
            }
            await store.put('pack', name, objectBytes(name, size))
            break
          }
        }
        await store.clean(60_000)
        await look()
        await store.close()
      }, 60_000)
    })
  })
}

const living = new Set<ChildProcess>()

interface Child {
  readonly process: ChildProcess
  readonly ready: Promise<void>
  /** The JSON lines it printed; rejects (with `lines`) if it did not exit 0. */
  readonly finished: Promise<unknown[]>
}

function runChild(
  location: string,
  job: string,
  args: Record<string, unknown>,
  onEvent: (event: unknown) => void = () => {},
): Child {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(here, 'child.ts'), location, job, JSON.stringify(args)],
    {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  living.add(child)
  child.on('exit', () => living.delete(child))
  const lines: unknown[] = []
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  let onReady: () => void = () => {}
  const ready = new Promise<void>((resolve) => {
    onReady = resolve
  })
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const event = JSON.parse(line) as { ready?: boolean }
    lines.push(event)
    if (event.ready) onReady()
    onEvent(event)
  })
  const finished = new Promise<unknown[]>((resolve, reject) => {
    child.on('close', (code, signal) => {
      onReady()
      if (code === 0) resolve(lines)
      else reject(Object.assign(new Error(`child ${job} exited ${code ?? signal}: ${stderr}`), { lines }))
    })
  })
  return { process: child, ready, finished }
}
