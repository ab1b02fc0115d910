import { spawnSync } from 'node:child_process'
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isPlakarError } from '@poolp/plakar'
import { openStore } from '@poolp/plakar/storage'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

// Made before the tests, not at import: a run that filters every test out leaves nothing behind.
let dir = ''
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'plakar-fs-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
const fresh = () => join(dir, `r${n++}`)

async function failure(p: Promise<unknown>, code: string): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(isPlakarError(err, code), String(err)).toBe(true)
  return (err as Error).message
}

/** A pid that certainly belongs to no process now. */
function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout)
}

describe('fs store layout', () => {
  it('lays objects out as docs/plakar-storage.md says', async () => {
    const root = fresh()
    const store = openStore(root)
    await store.create()
    expect(readFileSync(join(root, 'layout'), 'latin1')).toBe('plakar-fs-store 1\n')
    expect(readdirSync(root).sort()).toEqual([
      'config',
      'index',
      'keys',
      'layout',
      'locks',
      'packs',
      'snapshots',
    ])
    const pack = 'ab'.repeat(32)
    await store.put('pack', pack, Buffer.from('p'))
    await store.put('snapshot', '99e53a9c-e503-4c32-8622-924bf966f15b', Buffer.from('s'))
    await store.put('config', 'config', Buffer.from('c'))
    expect(readFileSync(join(root, 'packs', 'ab', pack), 'latin1')).toBe('p')
    expect(readFileSync(join(root, 'snapshots', '99e53a9c-e503-4c32-8622-924bf966f15b'), 'latin1')).toBe('s')
    expect(readFileSync(join(root, 'config', 'config'), 'latin1')).toBe('c')
    expect(statSync(join(root, 'packs', 'ab', pack)).mode & 0o777).toBe(0o400)
    expect(statSync(join(root, 'packs')).mode & 0o777).toBe(0o700)
    await store.close()
  })

  it('refuses a missing parent, a file in the way, and a directory of other files', async () => {
    expect(await failure(openStore('fs:///nope/x').create(), 'STORAGE_BAD_LOCATION')).toBe(
      'fs:///nope/x: directory /nope does not exist',
    )
    const file = fresh()
    writeFileSync(file, 'x')
    expect(await failure(openStore(file).create(), 'STORAGE_BAD_LOCATION')).toMatch(/: not a directory$/)
    const busy = fresh()
    mkdirSync(busy)
    writeFileSync(join(busy, 'notes.txt'), 'mine')
    // Not STORAGE_EXISTS: that means a repository (perhaps half created) is there.
    expect(await failure(openStore(busy).create(), 'STORAGE_BAD_LOCATION')).toMatch(/directory is not empty/)
    expect(await failure(openStore(busy).open(), 'STORAGE_NOT_FOUND')).toBe(
      `fs://${busy}: no repository here`,
    )
  })

  it('creates in an empty directory and finishes a create that was interrupted', async () => {
    const empty = fresh()
    mkdirSync(empty)
    await openStore(empty).create()
    await openStore(empty).open()
    const half = fresh()
    mkdirSync(join(half, 'packs'), { recursive: true })
    mkdirSync(join(half, 'keys'))
    await openStore(half).create()
    await openStore(half).open()
  })

  it('refuses a layout from a newer plakar, or a layout file that is not ours', async () => {
    const root = fresh()
    await openStore(root).create()
    rmSync(join(root, 'layout'))
    writeFileSync(join(root, 'layout'), 'plakar-fs-store 2\n')
    expect(await failure(openStore(root).open(), 'STORAGE_BAD_LOCATION')).toMatch(/layout 2 is newer/)
    rmSync(join(root, 'layout'))
    writeFileSync(join(root, 'layout'), 'something else')
    expect(await failure(openStore(root).open(), 'STORAGE_BAD_LOCATION')).toMatch(/not plakar's/)
  })

  it('lists neither temp files nor strays; clean() removes dead or old temp files only', async () => {
    const root = fresh()
    const store = openStore(root)
    await store.create()
    await store.put('pack', 'abcd', Buffer.from('x'))
    const packs = join(root, 'packs', 'ab')
    expect(readdirSync(packs)).toEqual(['abcd']) // a put that finished leaves no temp file
    // Make temp files as a writer on this host would name them: take the tag from a real one.
    const tag = (await import('../../src/storage/fs-io.js')).tempName().split('-')[1]!
    const dead = join(packs, `.tmp-${tag}-${deadPid()}-aaaaaa`)
    const live = join(packs, `.tmp-${tag}-${process.pid}-bbbbbb`)
    const old = join(root, 'index', `.tmp-00000000-1-cccccc`)
    const foreign = join(root, 'index', `.tmp-00000000-1-dddddd`)
    for (const f of [dead, live, old, foreign]) writeFileSync(f, 'partial')
    utimesSync(old, new Date(Date.now() - 7200_000), new Date(Date.now() - 7200_000))
    writeFileSync(join(root, 'index', 'README'), 'stray')
    writeFileSync(join(packs, 'ab.bak'), 'stray')
    writeFileSync(join(root, 'packs', 'cd'), 'a stray file where a fan-out directory goes')
    const listed: string[] = []
    for await (const { name } of store.list('pack')) listed.push(name)
    for await (const { name } of store.list('index')) listed.push(name)
    expect(listed).toEqual(['abcd'])
    expect(await store.clean()).toBe(2)
    expect(readdirSync(packs).map((f) => join(packs, f))).toEqual(
      [live, join(packs, 'ab.bak'), join(packs, 'abcd')].sort(),
    )
    expect(readdirSync(join(root, 'index')).sort()).toEqual([`.tmp-00000000-1-dddddd`, 'README'])
    expect(await store.clean(0)).toBe(2)
    await store.close()
  })

  it('a failing medium is one line with STORAGE_IO', async () => {
    const root = fresh()
    const store = openStore(root)
    await store.create()
    rmSync(join(root, 'packs'), { recursive: true })
    writeFileSync(join(root, 'packs'), 'not a directory')
    const message = await failure(store.put('pack', 'abcd', Buffer.from('x')), 'STORAGE_IO')
    expect(message).toMatch(/^fs:\/\/.*: cannot write pack abcd: .*\(ENOTDIR\)$/)
    await store.close()
  })
})
