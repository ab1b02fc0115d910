import { execFile } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { openStore } from '@poolp/plakar/storage'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createRepo, openRepo, tempDir } from './helpers.js'

const run = promisify(execFile)
const child = fileURLToPath(new URL('./child-writer.ts', import.meta.url))

let dir: ReturnType<typeof tempDir>
beforeEach(() => {
  dir = tempDir()
})
afterEach(() => dir.remove())

/** A tree per writer: files of its own plus files both writers hold (same bytes). */
function trees(shared: Buffer[]): string[] {
  return ['a', 'b'].map((who) => {
    const root = join(dir.path, `tree-${who}`)
    mkdirSync(root)
    for (const [i, data] of shared.entries()) writeFileSync(join(root, `shared-${i}`), data)
    for (let i = 0; i < 20; i++) writeFileSync(join(root, `own-${i}`), randomBytes(30_000 + i * 1000))
    return root
  })
}

describe.each(['fs', 'sqlite'])('two writers in two processes (%s)', (scheme) => {
  it('both succeed with complete snapshots, and share what they share', async () => {
    const location =
      scheme === 'fs' ? `fs://${join(dir.path, 'repo')}` : `sqlite://${join(dir.path, 'repo.db')}`
    const store = openStore(location)
    const repo = await createRepo(store, null, {
      chunking: { min: 16 << 10, avg: 64 << 10, max: 256 << 10 },
      packSize: 1 << 18,
    })
    await repo.close()
    const shared = Array.from({ length: 5 }, () => randomBytes(200_000))
    const roots = trees(shared)
    const uuids = [randomUUID(), randomUUID()]
    const outputs = await Promise.all(
      roots.map((root, i) =>
        run(
          process.execPath,
          ['--import', 'tsx', child, location, root, uuids[i]!, join(dir.path, `cache-${i}`)],
          {
            timeout: 60_000,
          },
        ),
      ),
    )
    for (const o of outputs) expect(JSON.parse(o.stdout)).toMatchObject({ files: 25 })

    const reader = await openRepo(store, null)
    expect((await reader.listSnapshots()).sort()).toEqual([...uuids].sort())
    for (const uuid of uuids) {
      const treeId = Buffer.from(Buffer.from(await reader.getSnapshot(uuid)).toString(), 'hex')
      const listing = JSON.parse(Buffer.from(await reader.getBlob(treeId)).toString()) as {
        name: string
        chunks: string[]
      }[]
      expect(listing.length).toBe(25)
      for (const entry of listing) {
        const parts: Uint8Array[] = []
        for await (const p of reader.readBlobs(entry.chunks.map((c) => Buffer.from(c, 'hex')))) parts.push(p)
        const content = Buffer.concat(parts)
        if (entry.name.startsWith('shared-'))
          expect(content.equals(shared[Number(entry.name.slice(7))]!)).toBe(true)
        else expect(content.length).toBe(30_000 + Number(entry.name.slice(4)) * 1000)
      }
    }
    await reader.close()
    await store.close()
  })
})
