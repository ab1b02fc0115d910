import * as fs from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  archive,
  listHeaders,
  locate,
  type Repository,
  Restorer,
  resolveSnapshot,
  TreeReader,
} from '@poolp/plakar'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { memoryRepository } from './repo.js'
import { compareTrees, makeTree } from './tree-fixture.js'

let work: string
const opened: Repository[] = []
async function newRepo(): Promise<Repository> {
  const r = await memoryRepository(null)
  opened.push(r)
  return r
}
beforeAll(() => {
  work = fs.mkdtempSync(join(tmpdir(), 'plakar-snap-'))
  makeTree(join(work, 'src'))
})
afterAll(async () => {
  for (const r of opened) await r.close()
  fs.chmodSync(join(work, 'src/readonly-dir'), 0o755)
  fs.rmSync(work, { recursive: true, force: true })
})

describe('archive then restore', () => {
  it('restores every kind of file byte for byte with its metadata', async () => {
    const repo = await newRepo()
    const header = await archive(repo, { paths: [join(work, 'src')] })
    expect(header.counts.errors).toBe(0)
    const h = await resolveSnapshot(repo, header.uuid.slice(0, 6))
    const reader = new TreeReader(repo)
    const at = await locate(reader, h, join(work, 'src'))
    const out = join(work, 'out')
    const r = new Restorer(repo, reader, out)
    await r.restore([], at.entry)
    await r.finish()
    expect(r.errors).toBe(0)
    expect(compareTrees(join(work, 'src'), join(out, 'src'), { owners: true })).toEqual([])
    expect(fs.statSync(join(out, 'src/sparse.img')).blocks * 512).toBeLessThan(1024 * 1024)
  })

  it('dedups unchanged directories across snapshots and pages large ones', async () => {
    const repo = await newRepo()
    const a = await archive(repo, { paths: [join(work, 'src')] })
    expect(a.stored).toBeGreaterThan(0)
    const b = await archive(repo, { paths: [join(work, 'src')] })
    const reader = new TreeReader(repo)
    const srcA = await locate(reader, a, join(work, 'src'))
    const srcB = await locate(reader, b, join(work, 'src'))
    expect(srcB.entry.tree!.equals(srcA.entry.tree!)).toBe(true)
    // Only the directories above src may have changed (other tests write in the temp dir).
    expect(b.stored).toBeLessThan(4096)
    const wide = await locate(reader, b, join(work, 'src/wide/file-02999-' + 'x'.repeat(60)))
    expect(wide.entry.size).toBe(5)
    expect((await listHeaders(repo)).length).toBe(2)
  })
})
