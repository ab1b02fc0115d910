import { randomBytes } from 'node:crypto'
import { isPlakarError } from '@poolp/plakar'
import type { Store } from '@poolp/plakar/storage'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createRepo, memoryStore, openRepo, tempDir } from './helpers.js'

let dir: ReturnType<typeof tempDir>
beforeEach(() => {
  dir = tempDir()
})
afterEach(() => dir.remove())

async function names(store: Store, kind: 'pack' | 'index'): Promise<string[]> {
  const out: string[] = []
  for await (const o of store.list(kind)) out.push(o.name)
  return out
}

async function expectCode(p: Promise<unknown>, code: string): Promise<Error> {
  try {
    await p
  } catch (err) {
    expect(isPlakarError(err, code), String(err)).toBe(true)
    return err as Error
  }
  throw new Error(`expected ${code}`)
}

/** Writes `count` random blobs into small packs and returns them. */
async function fill(store: Store, passphrase: Uint8Array | null, count: number) {
  const repo = await createRepo(store, null, { passphrase, packSize: 1 << 16 })
  const w = repo.writer({ cpus: 1 })
  const blobs: { id: Uint8Array; data: Buffer }[] = []
  for (let i = 0; i < count; i++) {
    const data = randomBytes(20_000)
    blobs.push({ id: (await w.putBlob('data', data)).id, data })
  }
  await w.close()
  await repo.close()
  return blobs
}

describe.each([
  ['encrypted', Buffer.from('pw')],
  ['unencrypted', null],
])('integrity (%s)', (_name, passphrase) => {
  it('reports a damaged pack as REPO_CORRUPT naming the blob, and still reads the others', async () => {
    const store = memoryStore()
    const blobs = await fill(store, passphrase, 3)
    const [pack] = await names(store, 'pack')
    const bytes = Buffer.from(await store.get('pack', pack!))
    bytes[100]! ^= 0xff // inside the first blob
    await store.delete('pack', pack!)
    await store.put('pack', pack!, bytes)

    const repo = await openRepo(store, dir.path, passphrase ?? undefined)
    const hex = Buffer.from(blobs[0]!.id).toString('hex')
    const err = await expectCode(repo.getBlob(blobs[0]!.id), 'REPO_CORRUPT')
    expect(err.message).toContain(hex)
    expect(Buffer.from(await repo.getBlob(blobs[1]!.id)).equals(blobs[1]!.data)).toBe(true)
    await repo.close()
  })

  it('reports damage the same way when blobs are opened in a batch on the decode worker', async () => {
    const store = memoryStore()
    const blobs = await fill(store, passphrase, 8)
    const [pack] = await names(store, 'pack')
    const bytes = Buffer.from(await store.get('pack', pack!))
    bytes[100]! ^= 0xff
    await store.delete('pack', pack!)
    await store.put('pack', pack!, bytes)
    const repo = await openRepo(store, null, passphrase ?? undefined)
    const results = await Promise.allSettled(blobs.map((b) => repo.getBlob(b.id)))
    const first = results[0]!
    expect(first.status).toBe('rejected')
    if (first.status === 'rejected') {
      expect(isPlakarError(first.reason, 'REPO_CORRUPT')).toBe(true)
      expect(first.reason.message).toContain(Buffer.from(blobs[0]!.id).toString('hex'))
    }
    for (const [i, r] of results.entries()) {
      if (i === 0) continue
      expect(r.status).toBe('fulfilled')
      if (r.status === 'fulfilled') expect(Buffer.from(r.value).equals(blobs[i]!.data)).toBe(true)
    }
    await repo.close()
  })

  it('reports a missing pack as REPO_CORRUPT and an unknown blob as REPO_BLOB_NOT_FOUND', async () => {
    const store = memoryStore()
    const blobs = await fill(store, passphrase, 1)
    for (const p of await names(store, 'pack')) await store.delete('pack', p)
    const repo = await openRepo(store, null, passphrase ?? undefined)
    await expectCode(repo.getBlob(blobs[0]!.id), 'REPO_CORRUPT')
    await expectCode(repo.getBlob(randomBytes(32)), 'REPO_BLOB_NOT_FOUND')
    await repo.close()
  })

  it('rebuilds the index from the packs alone', async () => {
    const store = memoryStore()
    const blobs = await fill(store, passphrase, 12)
    const packs = await names(store, 'pack')
    expect(packs.length).toBeGreaterThan(2)
    for (const i of await names(store, 'index')) await store.delete('index', i)

    const repo = await openRepo(store, dir.path, passphrase ?? undefined)
    await expectCode(repo.getBlob(blobs[0]!.id), 'REPO_BLOB_NOT_FOUND')
    const result = await repo.rebuildIndex()
    expect(result).toMatchObject({ packs: packs.length, added: packs.length, blobs: 12, damaged: [] })
    for (const b of blobs) expect(Buffer.from(await repo.getBlob(b.id)).equals(b.data)).toBe(true)
    expect((await repo.rebuildIndex()).added).toBe(0)
    await repo.close()

    // Another client with no cache sees the rebuilt index too.
    const other = await openRepo(store, null, passphrase ?? undefined)
    expect(await other.hasBlob(blobs[11]!.id)).toBe(true)
    await other.close()
  })

  it('skips a damaged index object: opens, reports it, and rebuild recovers its blobs', async () => {
    const store = memoryStore()
    const blobs = await fill(store, passphrase, 3)
    const [index] = await names(store, 'index')
    const bytes = Buffer.from(await store.get('index', index!))
    bytes[bytes.length >> 1]! ^= 1
    await store.delete('index', index!)
    await store.put('index', index!, bytes)

    const repo = await openRepo(store, null, passphrase ?? undefined)
    expect(repo.damagedIndexes.map((d) => d.name)).toEqual([index])
    const err = await expectCode(repo.getBlob(blobs[0]!.id), 'REPO_BLOB_NOT_FOUND')
    expect(err.message).toContain('damaged index')
    expect((await repo.rebuildIndex()).blobs).toBe(3)
    expect(Buffer.from(await repo.getBlob(blobs[0]!.id)).equals(blobs[0]!.data)).toBe(true)
    await repo.close()
  })

  it('says a damaged config is damaged', async () => {
    const store = memoryStore()
    await fill(store, passphrase, 1)
    const text = Buffer.from(await store.get('config', 'config')).toString()
    await store.delete('config', 'config')
    await store.put('config', 'config', Buffer.from(text.replace('fastcdc-v1', 'fastcdc-a1')))
    const err = await expectCode(
      openRepo(store, null, passphrase ?? undefined),
      passphrase ? 'REPO_CORRUPT' : 'REPO_UNSUPPORTED',
    )
    expect(err.message).toMatch(/config is damaged/)
  })

  it('resets a cache that names an index the repository no longer has', async () => {
    const store = memoryStore()
    const blobs = await fill(store, passphrase, 2)
    const repo = await openRepo(store, dir.path, passphrase ?? undefined)
    expect(await repo.hasBlob(blobs[0]!.id)).toBe(true)
    await repo.close()
    for (const i of await names(store, 'index')) await store.delete('index', i)
    const again = await openRepo(store, dir.path, passphrase ?? undefined)
    expect(await again.hasBlob(blobs[0]!.id)).toBe(false)
    await again.close()
  })
})

describe('crash safety', () => {
  it('a writer that dies before flush leaves only unreferenced packs; the next writer stores again', async () => {
    const store = memoryStore()
    const repo = await createRepo(store, null, { packSize: 1 << 16 })
    const data = Array.from({ length: 8 }, () => randomBytes(20_000))
    const dead = repo.writer({ cpus: 1 })
    for (const d of data) await dead.putBlob('data', d)
    // Give its packs time to land; never flush (the process "dies").
    await new Promise((r) => setTimeout(r, 50))
    expect((await names(store, 'pack')).length).toBeGreaterThan(0)
    expect(await names(store, 'index')).toEqual([])

    const fresh = await openRepo(store, null)
    const w = fresh.writer({ cpus: 1 })
    for (const d of data) expect((await w.putBlob('data', d)).stored).toBe(true)
    await w.close()
    for (const d of data) expect(await fresh.hasBlob(fresh.blobId(d))).toBe(true)
    await fresh.close()
    await repo.close()
  })
})
