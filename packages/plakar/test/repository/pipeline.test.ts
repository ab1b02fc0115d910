import { createHash, randomBytes } from 'node:crypto'
import { closeSync, mkdirSync, openSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isPlakarError } from '@poolp/plakar'
import { FILE_SOURCE } from '@poolp/plakar/snapshot'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRepo, memoryStore, openRepo, tempDir } from './helpers.js'

/** A small source-like tree: text files of varied sizes, a few big ones, an empty one. */
function makeTree(root: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>()
  let seed = 1
  const words = [
    'const',
    'function',
    'return',
    'import',
    'export',
    'value',
    'index',
    'buffer',
    '{',
    '}',
    '\n',
  ]
  const text = (n: number) => {
    const parts: string[] = []
    let size = 0
    while (size < n) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      const w = words[seed % words.length]!
      parts.push(w, ' ')
      size += w.length + 1
    }
    return Buffer.from(parts.join('').slice(0, n))
  }
  for (let d = 0; d < 5; d++) {
    mkdirSync(join(root, `dir${d}`), { recursive: true })
    for (let f = 0; f < 40; f++)
      files.set(join(root, `dir${d}`, `file${f}.txt`), text(100 + ((f * 7919) % 60000)))
  }
  files.set(join(root, 'empty'), Buffer.alloc(0))
  files.set(join(root, 'random.bin'), randomBytes(3 << 20))
  const big = Buffer.concat([text(2 << 20), randomBytes(1 << 20), text(2 << 20)])
  files.set(join(root, 'big.txt'), big)
  files.set(join(root, 'big-copy.txt'), Buffer.from(big))
  for (const [path, data] of files) writeFileSync(path, data)
  return files
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

let dir: ReturnType<typeof tempDir>
let tree: Map<string, Buffer>
beforeAll(() => {
  dir = tempDir()
  tree = makeTree(join(dir.path, 'tree'))
})
afterAll(() => dir.remove())

describe.each([1, 2])('worker pipeline (%i workers)', (cpus) => {
  it('stores a real file tree and restores it byte for byte, deduplicating', async () => {
    const store = memoryStore()
    // Small chunks so that the tree spans many chunks and packs.
    const repo = await createRepo(store, join(dir.path, `cache${cpus}`), {
      chunking: { min: 16 << 10, avg: 64 << 10, max: 256 << 10 },
      packSize: 1 << 20,
    })
    const w = repo.writer({ cpus, source: FILE_SOURCE })
    const results = new Map(
      await Promise.all(
        [...tree].map(async ([path, data]) => [path, await w.putFile({ path, size: data.length })] as const),
      ),
    )
    await w.close()
    for (const [path, data] of tree) expect(results.get(path)!.size).toBe(data.length)
    expect(results.get(join(dir.path, 'tree', 'empty'))!.chunks).toEqual([])
    // The copy dedups against the original entirely.
    const big = results.get(join(dir.path, 'tree', 'big.txt'))!
    const copy = results.get(join(dir.path, 'tree', 'big-copy.txt'))!
    expect(copy.chunks.map(sha)).toEqual(big.chunks.map(sha))
    expect(big.stored + copy.stored).toBeLessThan((5 << 20) * 0.7)
    expect(w.stats.packs).toBeGreaterThan(2)

    const reopened = await openRepo(store, null)
    for (const [path, data] of tree) {
      const parts: Uint8Array[] = []
      for await (const part of reopened.readBlobs(results.get(path)!.chunks, { readAhead: 4 }))
        parts.push(part)
      expect(sha(Buffer.concat(parts))).toBe(sha(data))
    }
    // A second pass stores nothing new: every chunk is in the index.
    const w2 = reopened.writer({ cpus, source: FILE_SOURCE })
    let stored = 0
    for (const path of tree.keys()) stored += (await w2.putFile({ path })).stored
    await w2.close()
    expect(stored).toBe(0)
    expect(w2.stats.packs).toBe(0)
    await reopened.close()
    await repo.close()
  })
})

describe('the main thread', () => {
  it('seals big files too, in steps, when the worker has its fill (byte for byte)', async () => {
    const store = memoryStore()
    const repo = await createRepo(store, join(dir.path, 'cache-main'), {
      chunking: { min: 16 << 10, avg: 64 << 10, max: 256 << 10 },
      packSize: 1 << 20,
    })
    // One worker holds two tasks: of four big files sent at once, the main thread takes the
    // third (and maybe more), each sent in many messages of its own.
    const files = [0, 1, 2, 3].map((i) => {
      const path = join(dir.path, `main-big-${i}`)
      writeFileSync(
        path,
        Buffer.concat([randomBytes(1 << 20), Buffer.alloc(2 << 20, i), randomBytes(1 << 20)]),
      )
      return path
    })
    const w = repo.writer({ cpus: 1, source: FILE_SOURCE })
    const results = await Promise.all(files.map((path) => w.putFile({ path, size: 4 << 20 })))
    await w.close()
    const reopened = await openRepo(store, null)
    for (const [i, path] of files.entries()) {
      expect(results[i]!.size).toBe(4 << 20)
      const parts: Uint8Array[] = []
      for await (const part of reopened.readBlobs(results[i]!.chunks)) parts.push(part)
      expect(sha(Buffer.concat(parts))).toBe(sha(readFileSync(path)))
    }
    await reopened.close()
    await repo.close()
  })
})

// "auto" reads small files synchronously on a warm page cache; "always" forces the read-ahead
// path that a cold cache takes (see pipeline-worker.ts).
describe.each(['auto', 'always'])('worker pipeline sources (read ahead: %s)', (mode) => {
  beforeAll(() => {
    process.env.PLAKAR_READ_AHEAD = mode
  })
  afterAll(() => {
    delete process.env.PLAKAR_READ_AHEAD
  })

  it('reads through a caller-owned fd and leaves it open', async () => {
    const store = memoryStore()
    const repo = await createRepo(store, null, { passphrase: null })
    const w = repo.writer({ cpus: 1, source: FILE_SOURCE })
    const path = join(dir.path, 'tree', 'random.bin')
    const fd = openSync(path, 'r')
    try {
      const r = await w.putFile({ fd, path: Buffer.from(path), size: 3 << 20 })
      expect(r.size).toBe(3 << 20)
      await w.flush()
      const parts: Uint8Array[] = []
      for await (const p of repo.readBlobs(r.chunks)) parts.push(p)
      expect(sha(Buffer.concat(parts))).toBe(sha(tree.get(path)!))
    } finally {
      closeSync(fd) // throws EBADF if the writer had closed it
    }
    await w.close()
    await repo.close()
  })

  it('stores what it reads when a size hint is wrong (the file grew or shrank)', async () => {
    const store = memoryStore()
    const repo = await createRepo(store, null, { chunking: { min: 4096, avg: 16384, max: 65536 } })
    const w = repo.writer({ cpus: 1, source: FILE_SOURCE })
    const data = randomBytes(300_000)
    const path = join(dir.path, 'changing')
    writeFileSync(path, data)
    const fd = openSync(path, 'r')
    try {
      const [grew, shrank, viaFd] = await Promise.all([
        w.putFile({ path, size: 1000 }),
        w.putFile({ path, size: 500_000 }),
        w.putFile({ fd, path, size: 10 }),
      ])
      await w.flush()
      for (const r of [grew, shrank, viaFd]) {
        expect(r.size).toBe(data.length)
        const parts: Uint8Array[] = []
        for await (const p of repo.readBlobs(r.chunks)) parts.push(p)
        expect(Buffer.concat(parts).equals(data)).toBe(true)
      }
    } finally {
      closeSync(fd)
    }
    await w.close()
    await repo.close()
  })

  it('rejects an unreadable file with REPO_SOURCE_UNREADABLE and goes on', async () => {
    const store = memoryStore()
    const repo = await createRepo(store, null)
    const w = repo.writer({ cpus: 1, source: FILE_SOURCE })
    const missing = w.putFile({ path: join(dir.path, 'nope'), size: 10 })
    const present = w.putFile({ path: join(dir.path, 'tree', 'empty'), size: 0 })
    const err = await missing.then(
      () => null,
      (e) => e,
    )
    expect(isPlakarError(err, 'REPO_SOURCE_UNREADABLE')).toBe(true)
    expect(err.message).toContain('nope')
    expect((await present).size).toBe(0)
    expect(err.cause.code).toBe('ENOENT')
    await w.close()
    await repo.close()
  })

  it('rejects a file that is not the one the caller saw (EREPLACED), without following a symlink', async () => {
    const store = memoryStore()
    const repo = await createRepo(store, null)
    const w = repo.writer({ cpus: 1, source: FILE_SOURCE })
    const target = join(dir.path, 'tree', 'empty')
    const link = join(dir.path, `link-${mode}`)
    symlinkSync(target, link)
    const st = statSync(target)
    const reason = (p: Promise<unknown>) =>
      p.then(
        () => null,
        (e) => (isPlakarError(e, 'REPO_SOURCE_UNREADABLE') ? (e.cause as { code: string }).code : e),
      )
    // Another inode than the lstat saw; a symlink where a file was; the file itself, with xattrs asked.
    expect(await reason(w.putFile({ path: target, size: 0, expect: { dev: st.dev, ino: st.ino + 1 } }))).toBe(
      'EREPLACED',
    )
    expect(await reason(w.putFile({ path: link, size: 0, expect: { dev: st.dev, ino: st.ino } }))).toBe(
      'EREPLACED',
    )
    const ok = await w.putFile({ path: target, size: 0, expect: { dev: st.dev, ino: st.ino }, xattrs: true })
    expect(ok.size).toBe(0)
    await w.close()
    await repo.close()
  })
})
