import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isPlakarError } from '../../src/errors.js'
import { FaultyStore, type Store } from '../../src/storage/index.js'
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
    const w = repo.writer({ cpus: 1 })
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
    const w = repo.writer({ cpus: 1 })
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
    const w = repo.writer({ cpus: 1 })
    const { id } = await w.putBlob('tree', randomBytes(1000))
    await expect(w.flush()).rejects.toSatisfy((e) => isPlakarError(e, 'STORAGE_INJECTED'))
    expect(await count(inner, 'pack')).toBe(1)
    expect(await count(inner, 'index')).toBe(0)
    expect(await repo.hasBlob(id)).toBe(false)
    await repo.close()
  })
})
