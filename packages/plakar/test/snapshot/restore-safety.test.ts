import * as fs from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Entry, type Repository, Restorer, TreeReader } from '@poolp/plakar'
import { DirWriter } from '@poolp/plakar/snapshot'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { memoryRepository } from './repo.js'

/**
 * Crafted snapshots that try to write outside the restore target: names with `/`, `..`,
 * NUL, absolute names, symlinks to write through. The restorer must refuse them or neutralise
 * them, and nothing may appear outside the target.
 */
let work: string
let repo: Repository
beforeAll(async () => {
  work = fs.mkdtempSync(join(tmpdir(), 'plakar-safety-'))
  fs.mkdirSync(join(work, 'outside'))
  repo = await memoryRepository(null)
})
afterAll(async () => {
  await repo.close()
  fs.rmSync(work, { recursive: true, force: true })
})

const base = { mode: 0o644, uid: 0, gid: 0, mtimeNs: 1_600_000_000_000_000_000n }

async function file(name: string | Buffer, text: string): Promise<Entry> {
  const w = repo.writer()
  const r = await w.putBlob('data', Buffer.from(text))
  await w.close()
  return {
    ...base,
    name: Buffer.from(name),
    kind: 'file',
    size: text.length,
    content: { chunks: [Buffer.from(r.id)] },
  }
}

async function dir(name: string | Buffer, entries: Entry[]): Promise<Entry> {
  const w = repo.writer()
  const d = new DirWriter(w)
  for (const e of [...entries].sort((a, b) => Buffer.compare(a.name, b.name))) await d.add(e)
  const tree = await d.finish()
  await w.close()
  return { ...base, name: Buffer.from(name), kind: 'dir', mode: 0o755, size: 0, tree }
}

function symlink(name: string, target: string): Entry {
  return {
    ...base,
    name: Buffer.from(name),
    kind: 'symlink',
    mode: 0o777,
    size: 0,
    target: Buffer.from(target),
  }
}

async function restore(entry: Entry, target: string): Promise<{ errors: string[] }> {
  const errors: string[] = []
  const r = new Restorer(repo, new TreeReader(repo), target, { onError: (_p, m) => errors.push(m) })
  await r.restore([], entry)
  await r.finish()
  return { errors }
}

function outsideIsEmpty(): void {
  expect(fs.readdirSync(join(work, 'outside'))).toEqual([])
  expect(fs.readdirSync(work).sort()).toEqual(expect.arrayContaining(['outside']))
}

describe('restoring a crafted snapshot', () => {
  it('refuses names with .., /, NUL, or absolute, and restores the rest', async () => {
    const evil = await dir('', [
      await file('..', 'dotdot'),
      await file('.', 'dot'),
      await file('../outside/escaped', 'slash'),
      await file('/tmp/absolute', 'absolute'),
      await file(Buffer.from('nul\0name'), 'nul'),
      await file('fine', 'fine'),
    ])
    const target = join(work, 't1')
    const r = await restore(evil, target)
    expect(r.errors.filter((m) => m.startsWith('refusing unsafe name'))).toHaveLength(5)
    expect(fs.readdirSync(target)).toEqual(['fine'])
    outsideIsEmpty()
    expect(fs.existsSync('/tmp/absolute')).toBe(false)
  })

  it('refuses an unsafe name as the entry to restore', async () => {
    const e = await file('../outside/x', 'x')
    await expect(restore(e, join(work, 't2'))).rejects.toThrow(/refusing unsafe name/)
    outsideIsEmpty()
  })

  it('never writes through a symlink, whether in the snapshot or left in the target', async () => {
    const target = join(work, 't3')
    // First restore leaves `a` -> outside; a second snapshot has a directory `a` with a file.
    await restore(await dir('', [symlink('a', join(work, 'outside'))]), target)
    expect(fs.readlinkSync(join(target, 'a'))).toBe(join(work, 'outside'))
    await restore(await dir('', [await dir('a', [await file('pwned', 'x')])]), target)
    expect(fs.lstatSync(join(target, 'a')).isDirectory()).toBe(true)
    expect(fs.readFileSync(join(target, 'a/pwned'), 'utf8')).toBe('x')
    // A file entry over an existing symlink replaces the symlink, not its target.
    fs.writeFileSync(join(work, 'victim'), 'keep')
    fs.symlinkSync(join(work, 'victim'), join(target, 'f'))
    await restore(await dir('', [await file('f', 'new')]), target)
    expect(fs.readFileSync(join(work, 'victim'), 'utf8')).toBe('keep')
    expect(fs.readFileSync(join(target, 'f'), 'utf8')).toBe('new')
    outsideIsEmpty()
  })

  it('rejects a directory whose names repeat or are out of order', async () => {
    const a = await file('same', 'one')
    const b = await file('same', 'two')
    const w = repo.writer()
    const page = {
      v: 1,
      e: [a, b].map((e) => ({
        n: e.name,
        k: 0,
        m: 0o644,
        u: 0,
        g: 0,
        t: 0n,
        s: 3,
        c: (e.content as { chunks: Buffer[] }).chunks,
      })),
    }
    const { encode } = await import('../../src/snapshot/codec.js')
    const r = await w.putBlob('tree', encode(page))
    await w.close()
    const evil: Entry = { ...base, name: Buffer.alloc(0), kind: 'dir', size: 0, tree: Buffer.from(r.id) }
    await expect(restore(evil, join(work, 't4'))).rejects.toThrow(/names out of order or repeated/)
    outsideIsEmpty()
  })

  it('leaves no partial file when content is missing', async () => {
    const e: Entry = { ...(await file('broken', 'abc')), size: 10 }
    const target = join(work, 't5')
    const r = await restore(await dir('', [e]), target)
    expect(r.errors[0]).toMatch(/chunks hold 3 bytes, the entry says 10/)
    expect(fs.readdirSync(target)).toEqual([])
  })
})
