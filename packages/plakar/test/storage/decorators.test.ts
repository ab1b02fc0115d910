import { isPlakarError } from '@poolp/plakar'
import { type MemoryStore, openStore, ReadOnlyStore, type Store } from '@poolp/plakar/storage'
import { FaultyStore } from '@poolp/plakar/testing'
import { describe, expect, it } from 'vitest'

let n = 0
async function memory(): Promise<Store> {
  const store = openStore(`memory://decorators-${n++}`)
  await store.create()
  return store
}

async function code(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p
    return undefined
  } catch (err) {
    if (!isPlakarError(err)) throw err
    return err.code
  }
}

describe('ReadOnlyStore', () => {
  it('reads through and refuses every write before it reaches the inner store', async () => {
    const inner = await memory()
    await inner.put('pack', 'ab', Buffer.from('x'))
    const ro = new ReadOnlyStore(inner)
    expect(ro.location).toBe(inner.location)
    await ro.open()
    expect(Buffer.from(await ro.get('pack', 'ab', 0, 1)).toString()).toBe('x')
    expect(await ro.stat('pack', 'ab')).toBe(1)
    const listed: string[] = []
    for await (const { name } of ro.list('pack')) listed.push(name)
    expect(listed).toEqual(['ab'])
    expect(await code(ro.put('pack', 'cd', Buffer.from('y')))).toBe('STORAGE_READ_ONLY')
    expect(await code(ro.delete('pack', 'ab'))).toBe('STORAGE_READ_ONLY')
    expect(await code(ro.create())).toBe('STORAGE_READ_ONLY')
    expect(await code(ro.clean())).toBe('STORAGE_READ_ONLY')
    expect(await inner.stat('pack', 'cd')).toBeUndefined()
    expect(await inner.stat('pack', 'ab')).toBe(1)
  })
})

describe('FaultyStore', () => {
  it('fires on the nth matching call, `times` times, matching method, kind and name', async () => {
    const faulty = new FaultyStore(await memory(), [
      { method: 'put', kind: 'pack', nth: 2, times: 2, action: 'fail' },
      { method: 'get', name: 'cc', action: 'fail', times: Infinity },
    ])
    const results: (string | undefined)[] = []
    for (const name of ['a1', 'a2', 'a3', 'a4'])
      results.push(await code(faulty.put('pack', name, Buffer.from(name))))
    expect(results).toEqual([undefined, 'STORAGE_INJECTED', 'STORAGE_INJECTED', undefined])
    await faulty.put('index', 'cc', Buffer.from('i'))
    expect(await code(faulty.get('index', 'cc'))).toBe('STORAGE_INJECTED')
    expect(await code(faulty.get('index', 'cc'))).toBe('STORAGE_INJECTED')
    expect(await code(faulty.get('pack', 'a1'))).toBeUndefined()
    expect(faulty.count('put')).toBe(5)
    expect(faulty.calls.at(-1)).toEqual({ method: 'get', kind: 'pack', name: 'a1' })
    faulty.heal()
    expect(await code(faulty.get('index', 'cc'))).toBeUndefined()
  })

  it('truncate leaves a torn object in the inner store, as a crash on a non-atomic medium would', async () => {
    const inner = await memory()
    const faulty = new FaultyStore(inner, [{ method: 'put', action: 'truncate', keep: 3 }])
    expect(await code(faulty.put('pack', 'ab', Buffer.from('0123456789')))).toBe('STORAGE_INJECTED')
    expect(Buffer.from(await inner.get('pack', 'ab')).toString()).toBe('012')
  })

  it('corrupt flips one bit of the returned bytes at a chosen place', async () => {
    const faulty = new FaultyStore(await memory(), [{ method: 'get', action: 'corrupt', at: 1 }])
    await faulty.put('pack', 'ab', Buffer.from([0, 0, 0]))
    expect([...(await faulty.get('pack', 'ab'))]).toEqual([0, 0x10, 0])
  })

  it('raises a given error instead of its own', async () => {
    const boom = new Error('disk on fire')
    const faulty = new FaultyStore(await memory(), [{ method: 'stat', action: 'fail', error: boom }])
    await expect(faulty.stat('pack', 'ab')).rejects.toBe(boom)
  })

  it('rejects faults that make no sense', async () => {
    const faulty = new FaultyStore(await memory())
    expect(() => faulty.inject({ method: 'get', action: 'truncate' })).toThrow(TypeError)
    expect(() => faulty.inject({ method: 'put', action: 'corrupt' })).toThrow(TypeError)
  })
})

describe('MemoryStore', () => {
  it('destroy() frees the objects; the name can be created again', async () => {
    const store = openStore('memory://destroy-me')
    await store.create()
    await store.put('pack', 'ab', Buffer.from('x'))
    await (store as MemoryStore).destroy()
    const again = openStore('memory://destroy-me')
    expect(await code(again.open())).toBe('STORAGE_NOT_FOUND')
    await again.create()
    expect(await again.stat('pack', 'ab')).toBeUndefined()
  })
})
