import * as fs from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { archive, FileCache, locate, type Repository, Restorer, TreeReader } from '@poolp/plakar'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { memoryRepository } from './repo.js'

/**
 * The file-metadata cache is a hint: unchanged files are not read again, and a cache that
 * is stale, foreign or deleted never makes a backup wrong.
 */
let work: string
const repos: Repository[] = []
beforeAll(async () => {
  work = fs.mkdtempSync(join(tmpdir(), 'plakar-cache-'))
  fs.mkdirSync(join(work, 'src/sub'), { recursive: true })
  for (let i = 0; i < 20; i++) fs.writeFileSync(join(work, `src/sub/f${i}`), `content ${i}\n`.repeat(100))
  // Older than the racy window, as files usually are.
  await new Promise((r) => setTimeout(r, 150))
})
afterAll(async () => {
  for (const r of repos) await r.close()
  fs.rmSync(work, { recursive: true, force: true })
})

async function repo(): Promise<Repository> {
  const r = await memoryRepository(null)
  repos.push(r)
  return r
}

async function restoredMatches(r: Repository, header: Awaited<ReturnType<typeof archive>>, into: string) {
  const reader = new TreeReader(r)
  const at = await locate(reader, header, join(work, 'src'))
  const restorer = new Restorer(r, reader, into)
  await restorer.restore([], at.entry)
  await restorer.finish()
  for (let i = 0; i < 20; i++) {
    expect(
      fs.readFileSync(join(into, `src/sub/f${i}`)).equals(fs.readFileSync(join(work, `src/sub/f${i}`))),
    ).toBe(true)
  }
}

describe('the file-metadata cache', () => {
  it('skips unchanged files and re-reads changed ones', async () => {
    const r = await repo()
    const cache = FileCache.open(join(work, 'cache1'), r.id)
    const progress = { files: 0, dirs: 0, bytes: 0, errors: 0, cached: 0 }
    await archive(r, { paths: [join(work, 'src')], cache })
    cache.flush()
    fs.writeFileSync(join(work, 'src/sub/f3'), 'changed\n')
    const batched = Object.assign(Object.create(r), {
      hasBlobsSync: (ids: Iterable<Uint8Array>) => r.cache.hasAll(ids),
    })
    const h = await archive(batched, { paths: [join(work, 'src')], cache, progress })
    expect(progress.cached).toBe(19)
    await restoredMatches(r, h, join(work, 'out1'))
    cache.close()
  })

  it('after a committed push, does not look the chunks up again (until the index changes)', async () => {
    const r = await repo()
    const cache = FileCache.forRepository(join(work, 'cache-trusted'), r)
    await archive(r, { paths: [join(work, 'src')], cache })
    cache.commit()
    let lookups = 0
    const counted = Object.assign(Object.create(r), {
      hasBlobsSync: (ids: Iterable<Uint8Array>) => {
        lookups++
        return r.cache.hasAll(ids)
      },
      hasBlobSync: (id: Uint8Array) => {
        lookups++
        return r.cache.hasBlob(id)
      },
    })
    const progress = { files: 0, dirs: 0, bytes: 0, errors: 0, cached: 0 }
    const h = await archive(counted, { paths: [join(work, 'src')], cache, progress })
    expect(progress.cached).toBe(20)
    expect(lookups).toBe(0)
    await restoredMatches(r, h, join(work, 'out-trusted'))
    // The local index is reset (an index object vanished): the epoch changes, so every
    // chunk is looked up again (the push's lock syncs the index back first: they are found,
    // and the files are unchanged without being read).
    r.cache.reset()
    const again = { files: 0, dirs: 0, bytes: 0, errors: 0, cached: 0 }
    await archive(counted, { paths: [join(work, 'src')], cache, progress: again })
    expect(lookups).toBeGreaterThan(0)
    expect(again.cached).toBe(20)
    cache.close()
  })

  it('never trusts chunks the repository does not hold (a cache from another repository)', async () => {
    const a = await repo()
    const cache = FileCache.open(join(work, 'cache2'), 'shared')
    await archive(a, { paths: [join(work, 'src')], cache })
    cache.flush()
    const b = await repo()
    const progress = { files: 0, dirs: 0, bytes: 0, errors: 0, cached: 0 }
    const h = await archive(b, { paths: [join(work, 'src')], cache, progress })
    expect(progress.cached).toBe(0)
    await restoredMatches(b, h, join(work, 'out2'))
    // The same through the batch check the CLI uses (one query for a directory's chunks).
    const c = await repo()
    const batched = Object.assign(Object.create(c), {
      hasBlobsSync: (ids: Iterable<Uint8Array>) => c.cache.hasAll(ids),
    })
    const h2 = await archive(batched, { paths: [join(work, 'src')], cache, progress })
    expect(progress.cached).toBe(0)
    await restoredMatches(c, h2, join(work, 'out2b'))
    cache.close()
  })

  it('works the same once deleted', async () => {
    const r = await repo()
    const dir = join(work, 'cache3')
    let cache = FileCache.open(dir, r.id)
    await archive(r, { paths: [join(work, 'src')], cache })
    cache.close()
    fs.rmSync(dir, { recursive: true })
    cache = FileCache.open(dir, r.id)
    const progress = { files: 0, dirs: 0, bytes: 0, errors: 0, cached: 0 }
    const h = await archive(r, { paths: [join(work, 'src')], cache, progress })
    expect(progress.cached).toBe(0)
    expect(h.stored).toBeLessThan(2048)
    await restoredMatches(r, h, join(work, 'out3'))
    cache.close()
  })
})

describe('a cache table from an older plakar', () => {
  it('is dropped and rebuilt, not used and not fatal', async () => {
    const dir = join(work, 'cache-old')
    fs.mkdirSync(dir)
    const Database = (await import('better-sqlite3')).default
    const db = new Database(join(dir, 'old.db'))
    // The per-file layout of 0.0.x, and an unknown layout under the current name.
    db.exec('CREATE TABLE snapshot_files_v1 (dir BLOB, name BLOB, stamp TEXT, chunks BLOB, xattrs BLOB)')
    db.exec('CREATE TABLE snapshot_dirs_v1 (path BLOB PRIMARY KEY, dev INTEGER)')
    db.close()
    const cache = FileCache.open(dir, 'old')
    expect(cache.dir(Buffer.from(join(work, 'src/sub'))).files.size).toBe(0)
    const r = await repo()
    await archive(r, { paths: [join(work, 'src')], cache })
    cache.flush()
    expect(cache.dir(Buffer.from(join(work, 'src/sub'))).files.size).toBe(20)
    cache.close()
    const after = new Database(join(dir, 'old.db'))
    const tables = after.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all()
    after.close()
    expect(tables).toEqual(['snapshot_dirs_v2'])
  })
})

describe('directory records', () => {
  const name = (s: string) => Buffer.from(s, 'latin1')
  const id = (n: number) => Buffer.alloc(32, n)
  const rec = (n: number, xattrs: Buffer[] = []) => ({
    stamp: `1:${n}:10:20:30`,
    digest: Buffer.alloc(32, 100 + n),
    chunks: [id(n), id(n + 1)],
    xattrs,
  })

  it('round-trip byte-exact names, chunks and attributes', () => {
    const cache = FileCache.open(join(work, 'cache-rec'), 'rec')
    const dir = Buffer.from('/d')
    const odd = Buffer.from([0x66, 0xe9, 0xff, 0x0a])
    cache.putDir(dir, [
      [name('b'), rec(1, [Buffer.from('user.k'), Buffer.from([0, 1, 2])])],
      [odd, rec(5)],
      [name('a'), { stamp: 's', digest: Buffer.alloc(32, 7), chunks: [], xattrs: [] }],
    ])
    cache.flush()
    const got = cache.dir(dir).files
    expect([...got.keys()].sort()).toEqual(['a', 'b', odd.toString('latin1')].sort())
    expect(got.get('b')!.chunks).toEqual([id(1), id(2)])
    expect(got.get('b')!.digest).toEqual(Buffer.alloc(32, 101))
    expect(got.get('b')!.xattrs).toEqual([Buffer.from('user.k'), Buffer.from([0, 1, 2])])
    expect(got.get(odd.toString('latin1'))!.stamp).toBe('1:5:10:20:30')
    expect(got.get('a')!.chunks).toEqual([])
    cache.close()
  })

  /** A file cache with an index epoch, as push uses it (the repository's, here a variable). */
  function withEpoch(file: string) {
    const epoch = { value: 'e-1' }
    const open = () => FileCache.open(work, file, () => epoch.value)
    return { epoch, open, cache: open() }
  }

  it('replace the directory, or merge into it', async () => {
    const { open, cache } = withEpoch('merge')
    const dir = Buffer.from('/m')
    cache.putDir(dir, [
      [name('x'), rec(1)],
      [name('y'), rec(2)],
    ])
    cache.commit()
    cache.putDir(dir, [[name('z'), rec(3)]], true)
    cache.flush()
    expect([...cache.dir(dir).files.keys()].sort()).toEqual(['x', 'y', 'z'])
    cache.putDir(dir, [[name('y'), rec(4)]])
    cache.flush()
    const got = cache.dir(dir).files
    expect([...got.keys()]).toEqual(['y'])
    expect(got.get('y')!.stamp).toBe('1:4:10:20:30')
    // Records of a push that did not commit (it died) are not merged into a trusted row.
    const later = open()
    later.putDir(dir, [[name('w'), rec(5)]], true)
    later.flush()
    expect([...later.dir(dir).files.keys()]).toEqual(['w'])
    cache.close()
    later.close()
  })

  it('are trusted once their push commits, until the index epoch changes', async () => {
    const { epoch, open, cache } = withEpoch('trust')
    const dir = Buffer.from('/t')
    cache.putDir(dir, [[name('a'), rec(1)]])
    cache.flush()
    expect(cache.dir(dir).trusted).toBe(false)
    // Another push's commit does not make this one's rows trusted.
    const other = open()
    other.commit()
    other.close()
    expect(cache.dir(dir).trusted).toBe(false)
    cache.commit()
    expect(cache.dir(dir).trusted).toBe(true)
    // A blob may have left the index (a reset of the local cache): trusted no more.
    epoch.value = 'e-99'
    expect(cache.dir(dir).trusted).toBe(false)
    // Unchanged but untrusted: written again, so that the next commit trusts it.
    cache.dir(dir)
    cache.putDir(dir, [[name('a'), rec(1)]])
    cache.commit()
    expect(cache.dir(dir).trusted).toBe(true)
    // A cache of its own (no index next to it) never trusts a row.
    const own = FileCache.open(join(work, 'cache-own'), 'own')
    own.putDir(dir, [[name('a'), rec(1)]])
    own.commit()
    expect(own.dir(dir).trusted).toBe(false)
    own.close()
    cache.close()
  })

  it('a damaged record is where the list ends: nothing after it is trusted', async () => {
    const dirPath = join(work, 'cache-damaged')
    const cache = FileCache.open(dirPath, 'damaged')
    const dir = Buffer.from('/t')
    cache.putDir(dir, [
      [name('a'), rec(1)],
      [name('b'), rec(2)],
    ])
    cache.close()
    const Database = (await import('better-sqlite3')).default
    const db = new Database(join(dirPath, 'damaged.db'))
    const blob = db.prepare('SELECT files FROM snapshot_dirs_v2').pluck().get() as Buffer
    // Cut inside b's chunks: a's record is whole, b's is not.
    db.prepare('UPDATE snapshot_dirs_v2 SET files = ?').run(blob.subarray(0, blob.length - 40))
    db.close()
    const again = FileCache.open(dirPath, 'damaged')
    expect([...again.dir(dir).files.keys()]).toEqual(['a'])
    again.close()
  })
})
