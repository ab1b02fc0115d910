import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  archive,
  type Entry,
  locate,
  openStore,
  Repository,
  Restorer,
  type SnapshotHeader,
  TreeReader,
} from '@poolp/plakar'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { compareTrees } from './tree-fixture.js'

/**
 * The restore's batched path (restore-pool.ts, restore-worker.ts): files over several
 * batches and workers, a file bigger than a batch sent in sections, hard links whose names
 * fall in different batches, and damaged blobs met on a worker, which must fail their file
 * alone, leave nothing behind under a temporary name, and let the rest restore.
 */
const FILES = 2600
const BIG = 11 << 20

let work: string
let src: string
let repoDir: string
let repo: Repository
let header: SnapshotHeader

beforeAll(async () => {
  work = fs.mkdtempSync(join(tmpdir(), 'plakar-parallel-'))
  src = join(work, 'src')
  fs.mkdirSync(join(src, 'many'), { recursive: true })
  for (let i = 0; i < FILES; i++) {
    const name = join(src, 'many', `f-${String(i).padStart(5, '0')}`)
    // Mostly tiny files, some empty, some of a few hundred KiB: several batches of each kind.
    const size = i % 97 === 0 ? 0 : i % 211 === 0 ? 300_000 + i : 100 + (i % 50) * 37
    fs.writeFileSync(name, randomBytes(size))
    fs.chmodSync(name, i % 3 === 0 ? 0o600 : 0o644)
  }
  // Hard links: the first name early in the walk, later ones after more than a batch of files.
  fs.mkdirSync(join(src, 'zlinks'))
  fs.linkSync(join(src, 'many/f-00005'), join(src, 'zlinks/a'))
  fs.linkSync(join(src, 'many/f-00005'), join(src, 'zlinks/b'))
  fs.linkSync(join(src, 'many/f-02500'), join(src, 'zlinks/c'))
  // Bigger than a batch (4 MiB) and with more chunks than fit inline: chunk lists, sections.
  fs.writeFileSync(join(src, 'big.bin'), randomBytes(BIG))
  fs.utimesSync(join(src, 'big.bin'), 1_600_000_000.123456, 1_600_000_000.123456)

  repoDir = join(work, 'repo')
  const store = openStore(repoDir)
  repo = await Repository.create(store, {
    passphrase: Buffer.from('test passphrase'),
    compression: true,
    kdf: { N: 1 << 10, r: 8, p: 1 },
    cacheDir: null,
    chunking: { min: 16 << 10, avg: 64 << 10, max: 256 << 10 },
  })
  header = await archive(repo, { paths: [src] })
  expect(header.counts.errors).toBe(0)
})

afterAll(async () => {
  await repo?.close()
  fs.rmSync(work, { recursive: true, force: true })
})

async function restore(
  out: string,
  workers: number,
  from: Repository = repo,
): Promise<{ errors: [string, string][] }> {
  const reader = new TreeReader(from)
  const at = await locate(reader, header, src)
  const errors: [string, string][] = []
  const r = new Restorer(from, reader, out, {
    workers,
    onError: (p, m) => errors.push([p.toString(), m]),
  })
  await r.restore([], at.entry)
  await r.finish()
  expect(r.errors).toBe(errors.length)
  return { errors }
}

async function entryAt(path: string): Promise<Entry> {
  return (await locate(new TreeReader(repo), header, path)).entry
}

async function chunkIds(e: Entry): Promise<Buffer[]> {
  const ids: Buffer[] = []
  for await (const id of new TreeReader(repo).chunks(e.content!)) ids.push(id)
  return ids
}

/** Flip a byte inside the sealed blob `id` where it lies in its pack file. */
async function damageBlob(id: Buffer): Promise<() => void> {
  const [loc] = await repo.locateBlobs([id])
  if (loc === undefined || loc instanceof Error) throw new Error('blob not found')
  const file = findFile(join(repoDir), loc.pack)
  fs.chmodSync(file, 0o600)
  const fd = fs.openSync(file, 'r+')
  const at = loc.offset + Math.floor(loc.length / 2)
  const b = Buffer.alloc(1)
  fs.readSync(fd, b, 0, 1, at)
  const flip = (): void => {
    b[0] = b[0]! ^ 0x40
    fs.writeSync(fd, b, 0, 1, at)
  }
  flip()
  return () => {
    flip()
    fs.closeSync(fd)
  }
}

function findFile(dir: string, name: string): string {
  for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, d.name)
    if (d.isDirectory()) {
      const found = findFile(p, name)
      if (found) return found
    } else if (d.name === name) return p
  }
  return ''
}

/** Names a restore left under its temporary prefix (none may stay). */
function leftovers(dir: string): string[] {
  const out: string[] = []
  for (const d of fs.readdirSync(dir, { withFileTypes: true, recursive: true }))
    if (d.name.startsWith('.plakar-')) out.push(join(d.parentPath ?? d.path, d.name))
  return out
}

describe('a parallel restore', () => {
  it('restores many files over several batches and workers, a big file in sections, links', async () => {
    const big = await entryAt(join(src, 'big.bin'))
    expect('lists' in big.content!).toBe(true)
    for (const workers of [1, 3]) {
      const out = join(work, `out-${workers}`)
      const { errors } = await restore(out, workers)
      expect(errors).toEqual([])
      expect(compareTrees(src, join(out, 'src'), { owners: true })).toEqual([])
      const first = fs.statSync(join(out, 'src/many/f-00005'))
      expect(fs.statSync(join(out, 'src/zlinks/a')).ino).toBe(first.ino)
      expect(fs.statSync(join(out, 'src/zlinks/b')).ino).toBe(first.ino)
      expect(fs.statSync(join(out, 'src/zlinks/c')).ino).toBe(fs.statSync(join(out, 'src/many/f-02500')).ino)
      expect(leftovers(out)).toEqual([])
    }
  })

  it('fails only the file whose blob is damaged, and restores the others', async () => {
    const victim = await entryAt(join(src, 'many/f-01234'))
    const [id] = await chunkIds(victim)
    const repair = await damageBlob(id!)
    try {
      const out = join(work, 'out-damaged')
      const { errors } = await restore(out, 2)
      expect(errors).toEqual([
        [
          join(out, 'src/many/f-01234'),
          `blob ${id!.toString('hex')}: authentication failed (damaged or altered)`,
        ],
      ])
      expect(fs.existsSync(join(out, 'src/many/f-01234'))).toBe(false)
      expect(leftovers(out)).toEqual([])
      expect(compareTrees(src, join(out, 'src'), { owners: true })).toEqual([
        './many: names differ',
        './many/f-01234: missing',
      ])
      expect(fs.readdirSync(join(out, 'src/many')).length).toBe(FILES - 1)
    } finally {
      repair()
    }
  })

  it('fails a big file damaged past its first section, with nothing left of it', async () => {
    const ids = await chunkIds(await entryAt(join(src, 'big.bin')))
    // Well past the first section (4 MiB of ~64 KiB chunks): the worker holds the file open.
    const id = ids[ids.length - 3]!
    const repair = await damageBlob(id)
    try {
      const out = join(work, 'out-big-damaged')
      const { errors } = await restore(out, 2)
      expect(errors).toEqual([
        [join(out, 'src/big.bin'), `blob ${id.toString('hex')}: authentication failed (damaged or altered)`],
      ])
      expect(fs.existsSync(join(out, 'src/big.bin'))).toBe(false)
      expect(leftovers(out)).toEqual([])
      expect(
        fs.readFileSync(join(out, 'src/many/f-00211')).equals(fs.readFileSync(join(src, 'many/f-00211'))),
      ).toBe(true)
    } finally {
      repair()
    }
  })

  it('fails the files of a pack that is gone, naming the blob, and restores the others', async () => {
    const victim = await entryAt(join(src, 'many/f-00100'))
    const [id] = await chunkIds(victim)
    const [loc] = await repo.locateBlobs([id!])
    if (loc === undefined || loc instanceof Error) throw new Error('blob not found')
    const file = findFile(repoDir, loc.pack)
    const aside = `${file}.aside`
    fs.renameSync(file, aside)
    // Another instance: this one's store keeps the files it read open.
    const fresh = await Repository.open(openStore(repoDir), {
      passphrase: async () => Buffer.from('test passphrase'),
      cacheDir: null,
    })
    try {
      const out = join(work, 'out-pack-gone')
      const { errors } = await restore(out, 2, fresh)
      expect(errors.length).toBeGreaterThan(0)
      expect(errors.map(([p]) => p)).toContain(join(out, 'src/many/f-00100'))
      for (const [, m] of errors)
        expect(m).toMatch(/^blob [0-9a-f]{64}: pack [0-9a-f]+ is missing or truncated$/)
      expect(fs.existsSync(join(out, 'src/many/f-00100'))).toBe(false)
      expect(leftovers(out)).toEqual([])
      const inMany = errors.filter(([p]) => p.includes('/src/many/')).length
      expect(fs.readdirSync(join(out, 'src/many')).length).toBe(FILES - inMany)
    } finally {
      await fresh.close()
      fs.renameSync(aside, file)
    }
  })
})

describe('locateBlobs', () => {
  it('gives each blob its location, or the error getBlob gives, in order', async () => {
    const [id] = await chunkIds(await entryAt(join(src, 'many/f-00001')))
    const unknown = Buffer.alloc(32, 7)
    const [a, b, c] = await repo.locateBlobs([id!, unknown, id!])
    expect(a).toEqual(await repo.locate(id!))
    expect(c).toEqual(a)
    expect(b).toBeInstanceOf(Error)
    expect((b as { code?: string }).code).toBe('REPO_BLOB_NOT_FOUND')
    await expect(repo.getBlob(unknown)).rejects.toThrow((b as Error).message)
  })
})
