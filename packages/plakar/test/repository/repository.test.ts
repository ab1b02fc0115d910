import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { isPlakarError } from '@poolp/plakar'
import { LocalCache, Repository } from '@poolp/plakar/repository'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createRepo, memoryStore, openRepo, PASS, TEST_KDF, tempDir } from './helpers.js'

let dir: ReturnType<typeof tempDir>
beforeEach(() => {
  dir = tempDir()
})
afterEach(() => dir.remove())

async function rejectsWith(p: Promise<unknown>, code: string): Promise<Error> {
  try {
    await p
  } catch (err) {
    if (!isPlakarError(err, code)) throw err
    return err
  }
  throw new Error(`expected ${code}, got success`)
}

describe.each([
  ['encrypted', PASS],
  ['unencrypted', null],
])('repository (%s)', (_name, passphrase) => {
  it('stores tree blobs, dedups them, and reads them back after reopening', async () => {
    const store = memoryStore()
    const repo = await createRepo(store, dir.path, { passphrase })
    expect(repo.encrypted).toBe(passphrase !== null)
    const w = repo.writer({ cpus: 1 })
    const a = Buffer.from('hello tree '.repeat(100))
    const b = randomBytes(5000)
    const ra = await w.putBlob('tree', a)
    const rb = await w.putBlob('tree', b)
    const again = await w.putBlob('tree', a)
    expect(ra.stored).toBe(true)
    expect(again.stored).toBe(false)
    expect(Buffer.from(again.id).equals(Buffer.from(ra.id))).toBe(true)
    await w.close()
    expect(await repo.hasBlob(ra.id)).toBe(true)
    expect(await repo.hasBlobs([ra.id, rb.id])).toBe(true)
    expect(await repo.hasBlobs([ra.id, randomBytes(32)])).toBe(false)
    expect(await repo.hasBlobs([])).toBe(true)
    expect(Buffer.from(await repo.getBlob(ra.id)).equals(a)).toBe(true)
    await repo.close()

    const other = tempDir()
    try {
      const reopened = await openRepo(store, other.path, PASS)
      expect(reopened.id).toBe(repo.id)
      expect(Buffer.from(await reopened.getBlob(rb.id)).equals(b)).toBe(true)
      const w2 = reopened.writer({ cpus: 1 })
      expect((await w2.putBlob('tree', b)).stored).toBe(false)
      await w2.close()
      await reopened.close()
    } finally {
      other.remove()
    }
  })

  it('stores and lists snapshot objects', async () => {
    const store = memoryStore()
    const repo = await createRepo(store, null, { passphrase })
    const uuid = '99e53a9c-e503-4c32-8622-924bf966f15b'
    await repo.putSnapshot(uuid, Buffer.from('snapshot header'))
    expect(await repo.listSnapshots()).toEqual([uuid])
    expect(Buffer.from(await repo.getSnapshot(uuid)).toString()).toBe('snapshot header')
    await rejectsWith(repo.getSnapshot('00000000-0000-0000-0000-000000000000'), 'REPO_SNAPSHOT_NOT_FOUND')
    await rejectsWith(repo.putSnapshot('../etc', Buffer.alloc(1)), 'REPO_USAGE')
    await repo.close()
  })
})

describe('opening', () => {
  it('reports a wrong passphrase as REPO_BAD_PASSPHRASE', async () => {
    const store = memoryStore()
    await (await createRepo(store, null)).close()
    const err = await rejectsWith(openRepo(store, null, Buffer.from('wrong')), 'REPO_BAD_PASSPHRASE')
    expect(err.message).toBe('wrong passphrase for this repository')
  })

  it('never asks for a passphrase for an unencrypted repository', async () => {
    const store = memoryStore()
    await (await createRepo(store, null, { passphrase: null })).close()
    const repo = await Repository.open(store, {
      passphrase: () => Promise.reject(new Error('asked')),
      cacheDir: null,
    })
    expect(repo.encrypted).toBe(false)
    await repo.close()
  })

  it('refuses to create over a repository and to open an empty location', async () => {
    const store = memoryStore()
    await (await createRepo(store, null)).close()
    await rejectsWith(createRepo(store, null), 'REPO_EXISTS')
    await rejectsWith(openRepo(memoryStore(), null), 'REPO_NOT_FOUND')
  })

  it('detects a config modified behind the key', async () => {
    const store = memoryStore()
    await (await createRepo(store, null)).close()
    const config = JSON.parse(Buffer.from(await store.get('config', 'config')).toString())
    config.packSize = 1 << 20
    await store.delete('config', 'config')
    await store.put('config', 'config', Buffer.from(JSON.stringify(config)))
    await rejectsWith(openRepo(store, null), 'REPO_CORRUPT')
  })

  it('creates and opens with the default scrypt cost', async () => {
    const store = memoryStore()
    const repo = await Repository.create(store, { passphrase: PASS, compression: true, cacheDir: null })
    await repo.close()
    const key = JSON.parse(Buffer.from(await first(store.list('key'), store)).toString())
    expect(key.kdf).toMatchObject({ algorithm: 'scrypt', N: 1 << 15, r: 8, p: 1 })
    await (await openRepo(store, null)).close()
    expect(TEST_KDF.N).toBeLessThan(key.kdf.N)
  })
})

async function first(
  it: AsyncIterable<{ name: string }>,
  store: { get(k: 'key', n: string): Promise<Uint8Array> },
): Promise<Uint8Array> {
  for await (const o of it) return store.get('key', o.name)
  throw new Error('no key')
}

describe('interrupted create', () => {
  it('resumes a create that died before its config, and skips the orphan key', async () => {
    const store = memoryStore()
    // The first create got as far as its key object, then died.
    await store.create()
    await store.put('key', 'ab'.repeat(16), Buffer.from('{"version":1,"kdf":{},"canary":"","wrapped":""}'))
    const repo = await createRepo(store, null)
    await repo.close()
    await (await openRepo(store, null)).close()
    await rejectsWith(createRepo(store, null), 'REPO_EXISTS')
  })
})

describe('the local cache file', () => {
  it('is the repository’s alone: tables of other layers are dropped on open', async () => {
    const Database = (await import('better-sqlite3')).default
    const cache = LocalCache.open('x'.repeat(32), dir.path)
    cache.close()
    const file = join(dir.path, `${'x'.repeat(32)}.db`)
    const db = new Database(file)
    // The file cache's table, as builds before it had a file of its own left it.
    db.exec(
      'CREATE TABLE snapshot_dirs_v1 (dir BLOB PRIMARY KEY, files BLOB NOT NULL, token BLOB, epoch INTEGER)',
    )
    db.close()
    LocalCache.open('x'.repeat(32), dir.path).close()
    const after = new Database(file)
    const tables = after.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all()
    after.close()
    expect(tables.sort()).toEqual([
      'repo_blobs',
      'repo_doomed_blobs',
      'repo_doomed_packs',
      'repo_dooms',
      'repo_indexes',
      'repo_meta',
      'repo_packs',
    ])
  })

  it('draws a new random index epoch when rows leave the index, also for a file made again', () => {
    const id = 'y'.repeat(32)
    const a = LocalCache.open(id, dir.path)
    const first = a.epoch()
    expect(a.epoch()).toBe(first)
    a.reset()
    const second = a.epoch()
    expect(second).not.toBe(first)
    a.close()
    rmSync(join(dir.path, `${id}.db`))
    const b = LocalCache.open(id, dir.path)
    expect([first, second]).not.toContain(b.epoch())
    expect(b.epoch()).toMatch(/^e-[0-9a-f]{32}$/)
    b.close()
  })
})
