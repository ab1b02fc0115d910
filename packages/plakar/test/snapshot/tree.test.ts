import { createHash } from 'node:crypto'
import { type Entry, TreeReader } from '@poolp/plakar'
import { DirWriter, type SnapshotBlobWriter } from '@poolp/plakar/snapshot'
import { describe, expect, it } from 'vitest'
import { encode } from '../../src/snapshot/codec.js'
import { entryToWire } from '../../src/snapshot/entry.js'

/** Directory blobs: deterministic bytes, paging of large directories, lookups. */
function blobStore() {
  const blobs = new Map<string, Uint8Array>()
  const writer: SnapshotBlobWriter = {
    putFile: () => Promise.reject(new Error('no files here')),
    putBlob: async (_type, data) => {
      const id = createHash('sha256').update(data).digest()
      blobs.set(id.toString('hex'), Uint8Array.from(data))
      return { id, stored: true, packedSize: data.length }
    },
    flush: async () => {},
    close: async () => {},
  }
  const repository = {
    id: 'blobs',
    writer: () => writer,
    getBlob: async (id: Uint8Array) => blobs.get(Buffer.from(id).toString('hex'))!,
    hasBlob: async (id: Uint8Array) => blobs.has(Buffer.from(id).toString('hex')),
    putSnapshot: async () => {},
    getSnapshot: async () => new Uint8Array(),
    listSnapshots: async () => [],
    lockForWrite: async () => ({ assertHeld: async () => {}, release: async () => {} }),
  }
  return { blobs, writer, repository }
}

const entry = (i: number, pad = 40): Entry => ({
  name: Buffer.from(`name-${String(i).padStart(7, '0')}-${'p'.repeat(pad)}`),
  kind: 'file',
  mode: 0o644,
  uid: 1000,
  gid: 1000,
  mtimeNs: 1_700_000_000_123_456_789n,
  size: i,
  content: { chunks: [createHash('sha256').update(String(i)).digest()] },
})

describe('directory blobs', () => {
  it('encode a page exactly as MessagePack encodes the whole map', async () => {
    for (const n of [0, 1, 15, 16, 300]) {
      const { blobs, writer } = blobStore()
      const d = new DirWriter(writer)
      const entries = Array.from({ length: n }, (_, i) => entry(i))
      for (const e of entries) await d.add(e)
      const id = await d.finish()
      const expected = encode({ v: 1, e: entries.map(entryToWire) })
      expect(Buffer.from(blobs.get(id.toString('hex'))!).equals(Buffer.from(expected))).toBe(true)
    }
  })

  it('split a large directory into pages and find every name', async () => {
    const { blobs, writer, repository } = blobStore()
    const d = new DirWriter(writer)
    const n = 12_000
    for (let i = 0; i < n; i++) await d.add(entry(i, 120))
    const id = await d.finish()
    expect(blobs.size).toBeGreaterThan(5)
    for (const b of blobs.values()) expect(b.length).toBeLessThanOrEqual(256 * 1024 + 64)
    const reader = new TreeReader(repository)
    let i = 0
    for await (const e of reader.list(id)) expect(e.size).toBe(i++)
    expect(i).toBe(n)
    for (const k of [0, 1, 2047, 5000, n - 1])
      expect((await reader.lookup(id, entry(k, 120).name))?.size).toBe(k)
    expect(await reader.lookup(id, Buffer.from('name-'))).toBeUndefined()
    expect(await reader.lookup(id, Buffer.from('zzz'))).toBeUndefined()
  })

  it('refuse entries out of order (a bug in the caller)', async () => {
    const d = new DirWriter(blobStore().writer)
    await d.add(entry(2))
    await expect(d.add(entry(1))).rejects.toThrow(/out of order/)
  })
})

describe('path lookup', () => {
  it('loads only the directories on the path, one page per level', async () => {
    const { writer, repository } = blobStore()
    // /big holds 12,000 entries (several pages); /big/name-0007000-.../leaf is looked up.
    const leafDir = new DirWriter(writer)
    await leafDir.add({ ...entry(1), name: Buffer.from('leaf') })
    const leafTree = await leafDir.finish()
    const big = new DirWriter(writer)
    for (let i = 0; i < 12_000; i++) {
      const e = entry(i, 120)
      await big.add(i === 7000 ? { ...e, kind: 'dir', tree: leafTree, content: undefined } : e)
    }
    const bigTree = await big.finish()
    const root = new DirWriter(writer)
    await root.add({ ...entry(0), name: Buffer.from('big'), kind: 'dir', tree: bigTree, content: undefined })
    const rootTree = await root.finish()
    let loads = 0
    const counting = {
      ...repository,
      getBlob: (id: Uint8Array) => {
        loads++
        return repository.getBlob(id)
      },
    }
    const reader = new TreeReader(counting)
    const bigEntry = await reader.lookup(rootTree, Buffer.from('big'))
    const mid = await reader.lookup(bigEntry!.tree!, entry(7000, 120).name)
    const leaf = await reader.lookup(mid!.tree!, Buffer.from('leaf'))
    expect(leaf?.size).toBe(1)
    // root page, big's index, one page of big, the leaf directory: 4 of the 40+ blobs.
    expect(loads).toBe(4)
  })
})

describe('finding names across snapshots', () => {
  it('searches an unchanged directory once', async () => {
    const { writer, repository } = blobStore()
    const sub = new DirWriter(writer)
    await sub.add({ ...entry(1), name: Buffer.from('notes.md') })
    const subTree = await sub.finish()
    const roots: Buffer[] = []
    for (const extra of ['a', 'b']) {
      const d = new DirWriter(writer)
      await d.add({ ...entry(0), name: Buffer.from(extra) })
      await d.add({ ...entry(0), name: Buffer.from('docs'), kind: 'dir', tree: subTree, content: undefined })
      roots.push(await d.finish())
    }
    let loads = 0
    const counting = {
      ...repository,
      getBlob: (id: Uint8Array) => {
        loads++
        return repository.getBlob(id)
      },
    }
    const { NameFinder } = await import('@poolp/plakar')
    const finder = new NameFinder(new TreeReader(counting, 0), (n) => n.toString() === 'notes.md')
    for (const r of roots) {
      const found = await finder.find(r)
      expect(found.map((m) => m.path.toString())).toEqual(['docs/notes.md'])
    }
    // Two roots and the shared docs directory once: 3 loads, not 4.
    expect(loads).toBe(3)
  })
})
