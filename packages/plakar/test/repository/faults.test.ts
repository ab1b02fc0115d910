import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isPlakarError } from '@poolp/plakar'
import { FILE_SOURCE } from '@poolp/plakar/snapshot'
import type { Store } from '@poolp/plakar/storage'
import { FaultyStore } from '@poolp/plakar/testing'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createRepo, memoryStore, openRepo, tempDir } from './helpers.js'

let dir: ReturnType<typeof tempDir>
beforeEach(() => {
  dir = tempDir()
})
afterEach(() => dir.remove())

async function count(store: Store, kind: 'pack' | 'index'): Promise<number> {
  let n = 0
  for await (const _ of store.list(kind)) n++
  return n
}

describe('storage faults under the repository', () => {
  it('a bit flipped on the way back is REPO_CORRUPT, never data', async () => {
    const inner = memoryStore()
    const repo = await createRepo(inner, null)
    const w = repo.writer({ cpus: 1, source: FILE_SOURCE })
    const data = randomBytes(50_000)
    const { id } = await w.putBlob('data', data)
    await w.close()
    await repo.close()

    const faulty = new FaultyStore(inner, [
      { method: 'get', kind: 'pack', action: 'corrupt', times: Infinity },
    ])
    const reader = await openRepo(faulty, null)
    await expect(reader.getBlob(id)).rejects.toSatisfy((e) => isPlakarError(e, 'REPO_CORRUPT'))
    await reader.close()
  })

  it('a failed pack put fails the files in flight and the flush; no index names it', async () => {
    const inner = memoryStore()
    await (await createRepo(inner, null, { packSize: 1 << 16 })).close()
    const faulty = new FaultyStore(inner, [{ method: 'put', kind: 'pack', nth: 2, action: 'fail' }])
    const repo = await openRepo(faulty, null)
    const w = repo.writer({ cpus: 1, source: FILE_SOURCE })
    const files = Array.from({ length: 6 }, (_, i) => {
      const path = join(dir.path, `f${i}`)
      writeFileSync(path, randomBytes(100_000))
      return path
    })
    const results = await Promise.allSettled(files.map((path) => w.putFile({ path })))
    const flushed = await w.flush().then(
      () => null,
      (e) => e,
    )
    const failed = results.filter((r) => r.status === 'rejected').length + (flushed ? 1 : 0)
    expect(failed).toBeGreaterThan(0)
    expect(isPlakarError(flushed, 'STORAGE_INJECTED')).toBe(true)
    expect(await count(inner, 'index')).toBe(0)
    await w.close().catch(() => {})
    await repo.close()
  })

  it('a failed index put fails the flush; the packs stay unreferenced and invisible', async () => {
    const inner = memoryStore()
    await (await createRepo(inner, null)).close()
    const faulty = new FaultyStore(inner, [{ method: 'put', kind: 'index', action: 'fail' }])
    const repo = await openRepo(faulty, dir.path)
    const w = repo.writer({ cpus: 1, source: FILE_SOURCE })
    const { id } = await w.putBlob('tree', randomBytes(1000))
    await expect(w.flush()).rejects.toSatisfy((e) => isPlakarError(e, 'STORAGE_INJECTED'))
    expect(await count(inner, 'pack')).toBe(1)
    expect(await count(inner, 'index')).toBe(0)
    expect(await repo.hasBlob(id)).toBe(false)
    await repo.close()
  })
})

describe('pack reads', () => {
  it('serves a run of blobs read in write order from few range reads, and single blobs exactly', async () => {
    const inner = memoryStore()
    const repo = await createRepo(inner, null)
    const w = repo.writer({ cpus: 1, source: FILE_SOURCE })
    const blobs: { id: Uint8Array; data: Buffer }[] = []
    for (let i = 0; i < 200; i++) {
      const data = randomBytes(5000 + i)
      blobs.push({ id: (await w.putBlob('data', data)).id, data })
    }
    await w.close()
    await repo.close()

    const counting = new FaultyStore(inner)
    const reader = await openRepo(counting, null)
    const before = counting.calls.filter((c) => c.method === 'get' && c.kind === 'pack').length
    const all = await Promise.all(blobs.map((b) => reader.getBlob(b.id)))
    for (const [i, data] of all.entries()) expect(Buffer.from(data).equals(blobs[i]!.data)).toBe(true)
    for await (const data of reader.readBlobs(blobs.slice(50, 120).map((b) => b.id)))
      expect(data.length).toBeGreaterThan(0)
    const reads = counting.calls.filter((c) => c.method === 'get' && c.kind === 'pack').length - before
    expect(reads).toBeLessThan(20)
    // The last blob of the pack, alone: exactly its bytes, no read past the blob data.
    expect(Buffer.from(await reader.getBlob(blobs[199]!.id)).equals(blobs[199]!.data)).toBe(true)
    await reader.close()
  })
})
