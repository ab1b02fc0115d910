import { randomBytes } from 'node:crypto'
import { isPlakarError } from '@poolp/plakar'
import { INDEX_BLOBS } from '@poolp/plakar/repository'
import { openStore } from '@poolp/plakar/storage'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createRepo, openRepo, tempDir } from './helpers.js'

let dir: ReturnType<typeof tempDir>
beforeEach(() => {
  dir = tempDir()
})
afterEach(() => dir.remove())

async function names(it: AsyncIterable<{ name: string }>): Promise<string[]> {
  const out: string[] = []
  for await (const x of it) out.push(x.name)
  return out.sort()
}

/** Two writers, two flushes each: four index objects over a real fs store. */
async function filled() {
  const store = openStore(`${dir.path}/repo`)
  const repo = await createRepo(store, `${dir.path}/cache`, { packSize: 64 << 10 })
  const blobs: Buffer[] = []
  const ids: Uint8Array[] = []
  for (let w = 0; w < 2; w++) {
    const writer = repo.writer({ cpus: 1 })
    for (let f = 0; f < 2; f++) {
      for (let i = 0; i < 20; i++) {
        const b = randomBytes(3000 + i)
        blobs.push(b)
        ids.push((await writer.putBlob('data', b)).id)
      }
      await writer.flush()
    }
    await writer.close()
  }
  return { store, repo, blobs, ids }
}

describe('the repository read path', () => {
  it('loadBlobs gives each blob verified, in order, and each failure as its own error', async () => {
    const { repo, blobs, ids } = await filled()
    const missing = randomBytes(32)
    const got = await repo.loadBlobs([ids[3]!, missing, ids[0]!, ids[3]!, ids[79]!])
    expect(Buffer.from(got[0] as Uint8Array).equals(blobs[3]!)).toBe(true)
    expect(isPlakarError(got[1], 'REPO_BLOB_NOT_FOUND')).toBe(true)
    expect(Buffer.from(got[2] as Uint8Array).equals(blobs[0]!)).toBe(true)
    expect(Buffer.from(got[3] as Uint8Array).equals(blobs[3]!)).toBe(true)
    expect(Buffer.from(got[4] as Uint8Array).equals(blobs[79]!)).toBe(true)
    // A lost pack fails its blobs, and only those.
    const loc = await repo.locate(ids[0]!)
    await repo.maintenance().deletePack(loc.pack)
    const after = await repo.loadBlobs([ids[0]!, ids[79]!])
    expect(isPlakarError(after[0], 'REPO_CORRUPT')).toBe(true)
    expect((after[0] as Error).message).toContain(loc.pack)
    expect(Buffer.from(after[1] as Uint8Array).equals(blobs[79]!)).toBe(true)
    await repo.close()
  })
})

describe('maintenance access', () => {
  it('reads index objects and pack headers, verified, and they agree', async () => {
    const { repo } = await filled()
    const m = repo.maintenance()
    const indexes = await names(m.listIndexes())
    expect(indexes.length).toBe(4)
    const packs = await names(m.listPacks())
    const named = new Map<string, number>()
    for (const name of indexes) for (const p of await m.readIndex(name)) named.set(p.pack, p.entries.length)
    expect([...named.keys()].sort()).toEqual(packs)
    for (const pack of packs) expect((await m.readPackHeader(pack)).entries.length).toBe(named.get(pack))
    await repo.close()
  })

  it('supersedes index objects with one that names the same packs; every blob stays readable', async () => {
    const { store, repo, blobs, ids } = await filled()
    const m = repo.maintenance()
    const old = await names(m.listIndexes())
    const union = []
    for (const name of old) union.push(...(await m.readIndex(name)))
    const [fresh] = await m.supersede(union, old)
    expect(await names(m.listIndexes())).toEqual([fresh])
    await repo.close()
    const again = await openRepo(openStore(store.location), `${dir.path}/cache`)
    const got = await again.loadBlobs(ids)
    for (const [k, g] of got.entries()) expect(Buffer.from(g as Uint8Array).equals(blobs[k]!)).toBe(true)
    await again.close()
  })

  it('bounds every index object a writer or a supersede writes by blobs, not only by packs', async () => {
    // Tiny blobs: 32 packs of them would make one index object of half a million entries.
    const store = openStore(`${dir.path}/repo`)
    const repo = await createRepo(store, `${dir.path}/cache`, { packSize: 1 << 20 })
    const writer = repo.writer({ cpus: 1 })
    const ids: Uint8Array[] = []
    const count = Math.floor(INDEX_BLOBS * 2.5)
    for (let i = 0; i < count; i++) ids.push((await writer.putBlob('data', Buffer.from(`tiny blob ${i}`))).id)
    await writer.flush()
    await writer.close()
    const m = repo.maintenance()
    const sizes = async () => {
      const out: number[] = []
      for (const name of await names(m.listIndexes()))
        out.push((await m.readIndex(name)).reduce((n, p) => n + p.entries.length, 0))
      return out
    }
    const written = await sizes()
    expect(written.reduce((a, b) => a + b, 0)).toBe(count)
    expect(written.length).toBeGreaterThanOrEqual(3)
    // A pack is never split, so a piece may pass the bound by at most one pack's blobs.
    const packs = []
    for (const name of await names(m.listIndexes())) packs.push(...(await m.readIndex(name)))
    const biggestPack = Math.max(...packs.map((p) => p.entries.length))
    for (const n of written) expect(n).toBeLessThan(INDEX_BLOBS + biggestPack)
    await m.supersede(packs, await names(m.listIndexes()))
    const superseded = await sizes()
    expect(superseded.reduce((a, b) => a + b, 0)).toBe(count)
    for (const n of superseded) expect(n).toBeLessThan(INDEX_BLOBS + biggestPack)
    const got = await repo.loadBlobs([ids[0]!, ids[count - 1]!])
    expect(Buffer.from(got[1] as Uint8Array).toString()).toBe(`tiny blob ${count - 1}`)
    await repo.close()
  })

  it('copies blobs as stored into new packs, authenticating each, and refuses a damaged one', async () => {
    const { store, repo, blobs, ids } = await filled()
    const m = repo.maintenance()
    const victim = await repo.locate(ids[5]!)
    // One byte flipped inside blob 5 as stored: what a failing disk does.
    const raw = Buffer.from(await store.get('pack', victim.pack))
    raw[victim.offset + victim.length - 20]! ^= 0x01
    await store.delete('pack', victim.pack)
    await store.put('pack', victim.pack, raw)
    // The repository holds them: a copy stores nothing until their packs are doomed.
    const writer = m.writer()
    const copied = await writer.copyBlobs([ids[0]!, ids[5]!, ids[1]!])
    expect(copied[0]).toBe(0) // held elsewhere already: not stored twice
    expect(isPlakarError(copied[1], 'REPO_CORRUPT')).toBe(true)
    expect((copied[1] as Error).message).toMatch(/authentication failed/)
    await writer.close()
    await repo.close()

    // Doomed (their only copy about to go), the sound ones are moved, byte for byte.
    const again = await openRepo(openStore(store.location), `${dir.path}/cache`)
    const am = again.maintenance()
    const from = await again.locate(ids[0]!)
    await am.writeDoom([from.pack])
    await am.sync()
    const before = await names(am.listPacks())
    const w2 = am.writer()
    const moved = await w2.copyBlobs([ids[0]!])
    await w2.close()
    expect(moved[0]).toBe(from.length)
    const fresh = (await names(am.listPacks())).filter((p) => !before.includes(p))
    expect(fresh).toHaveLength(1)
    const header = await am.readPackHeader(fresh[0]!)
    const entry = header.entries.find((e) => Buffer.from(e.id).equals(Buffer.from(ids[0]!)))!
    const stored = async (pack: string, offset: number, length: number) =>
      Buffer.from(await store.get('pack', pack)).subarray(offset, offset + length)
    expect(
      (await stored(fresh[0]!, entry.offset, entry.length)).equals(
        await stored(from.pack, from.offset, from.length),
      ),
    ).toBe(true)
    await again.close()
    const third = await openRepo(openStore(store.location), `${dir.path}/cache-3`)
    const got = await third.loadBlobs([ids[0]!])
    expect(Buffer.from(got[0] as Uint8Array).equals(blobs[0]!)).toBe(true)
    await third.close()
  })

  it('reports a damaged index object as REPO_CORRUPT naming it', async () => {
    const { store, repo } = await filled()
    const m = repo.maintenance()
    const [name] = await names(m.listIndexes())
    const bytes = Buffer.from(await store.get('index', name!))
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1
    await store.delete('index', name!)
    await store.put('index', name!, bytes)
    await expect(m.readIndex(name!)).rejects.toThrow(name!)
    await m.readIndex(name!).catch((err) => expect(isPlakarError(err, 'REPO_CORRUPT')).toBe(true))
    await repo.close()
  })
})
