/**
 * Restore is safe whatever the snapshot holds. These snapshots are crafted through the
 * library (no archiver would write them): names with `..`, `.`, `/`, NUL, absolute names,
 * empty names, a symlink then a file through it (in one snapshot by name, in two snapshots
 * restored into one target, and in one directory that repeats a name). `plakar pull` must
 * write nothing outside its target, report the bad entries, and still restore the good ones.
 */
import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { openStore, Repository } from '@poolp/plakar'
import {
  DirWriter,
  type Entry,
  encodeHeader,
  makeContent,
  SNAPSHOT_VERSION,
  TREE_VERSION,
} from '@poolp/plakar/snapshot'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encode } from '../../src/snapshot/codec.js'
import { entryToWire } from '../../src/snapshot/entry.js'
import { ok, PASSPHRASE, type PlakarEnv, plakar } from './harness.js'

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'plakar-escape-'))
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }))

const repo = `fs://${path.join(scratch, 'repo')}`
const env: PlakarEnv = { home: path.join(scratch, 'home'), passphrase: PASSPHRASE }
/** Restores go to sandbox/target; sandbox/outside is where escapes would land. */
const sandbox = path.join(scratch, 'sandbox')
const target = path.join(sandbox, 'target')
const outside = path.join(sandbox, 'outside')
const PAYLOAD = Buffer.from('escaped\n')
const GOOD = Buffer.from('fine\n')

const base = { mode: 0o644, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, mtimeNs: 0n }
type Writer = ReturnType<Repository['writer']>

async function file(w: Writer, name: Buffer | string, data = PAYLOAD): Promise<Entry> {
  const { id } = await w.putBlob('data', data)
  const content = await makeContent(w, [id])
  return { ...base, name: Buffer.from(name), kind: 'file', size: data.length, content }
}

function symlink(name: string, to: string): Entry {
  return { ...base, mode: 0o777, name: Buffer.from(name), kind: 'symlink', size: 0, target: Buffer.from(to) }
}

/** A directory entry; entries are sorted here (DirWriter wants strictly increasing names). */
async function dir(w: Writer, name: Buffer | string, entries: Entry[]): Promise<Entry> {
  const d = new DirWriter(w)
  for (const e of [...entries].sort((a, b) => Buffer.compare(a.name, b.name))) await d.add(e)
  const tree = await d.finish()
  return { ...base, mode: 0o755, name: Buffer.from(name), kind: 'dir', size: 0, tree, count: entries.length }
}

/** A directory blob that repeats a name: DirWriter refuses to write one, so encode it by hand. */
async function rawDir(w: Writer, name: string, entries: Entry[]): Promise<Entry> {
  const { id } = await w.putBlob('tree', encode({ v: TREE_VERSION, e: entries.map(entryToWire) }))
  return {
    ...base,
    mode: 0o755,
    name: Buffer.from(name),
    kind: 'dir',
    size: 0,
    tree: Buffer.from(id),
    count: 2,
  }
}

async function saveSnapshot(repository: Repository, w: Writer, children: Entry[]): Promise<string> {
  const root = await dir(w, '', children)
  await w.flush()
  const uuid = randomUUID()
  const header = encodeHeader({
    version: SNAPSHOT_VERSION,
    uuid,
    time: new Date().toISOString(),
    hostname: 'crafted',
    username: 'crafted',
    commandLine: ['crafted'],
    paths: ['/'],
    tags: [],
    root,
    counts: { files: children.length, dirs: 1, symlinks: 0, others: 0, errors: 0 },
    size: 0,
    stored: 0,
    durationMs: 0,
    errors: [],
    users: [],
    groups: [],
  })
  await repository.putSnapshot(uuid, header)
  return uuid
}

const snaps: Record<'names' | 'linkFirst' | 'throughLink' | 'repeated', string> = {
  names: '',
  linkFirst: '',
  throughLink: '',
  repeated: '',
}

beforeAll(async () => {
  fs.mkdirSync(env.home, { recursive: true })
  await ok(['on', repo, 'create'], env)
  const repository = await Repository.open(openStore(repo), {
    passphrase: async () => Buffer.from(PASSPHRASE),
    cacheDir: null,
  })
  const w = repository.writer({ cpus: 1 })
  try {
    snaps.names = await saveSnapshot(repository, w, [
      await file(w, 'good.txt', GOOD),
      await dir(w, '..', [await file(w, 'dotdot.txt')]),
      await dir(w, '.', [await file(w, 'dot.txt')]),
      await file(w, '../escaped-name.txt'),
      await file(w, 'a/../../escaped-slash.txt'),
      await file(w, path.join(outside, 'absolute.txt')),
      await file(w, 'nul\0name.txt'),
      await file(w, ''),
      symlink('link', outside),
      await file(w, 'link/through-name.txt'),
      await dir(w, 'sub', [await dir(w, '..', [await dir(w, '..', [await file(w, 'deep.txt')])])]),
    ])
    snaps.linkFirst = await saveSnapshot(repository, w, [
      symlink('link', outside),
      await file(w, 'ok.txt', GOOD),
    ])
    snaps.throughLink = await saveSnapshot(repository, w, [
      await dir(w, 'link', [await file(w, 'through-dir.txt')]),
    ])
    snaps.repeated = await saveSnapshot(repository, w, [
      await rawDir(w, 'twice', [
        symlink('x', outside),
        await dir(w, 'x', [await file(w, 'through-repeat.txt')]),
      ]),
    ])
  } finally {
    await w.close()
    await repository.close()
  }
})

/** Every path under the sandbox that is not inside the target, and whatever `outside` holds. */
function escapes(): string[] {
  const found: string[] = []
  for (const name of fs.readdirSync(sandbox)) {
    if (name === 'target') continue
    if (name !== 'outside') found.push(name)
  }
  for (const name of fs.readdirSync(outside)) found.push(`outside/${name}`)
  const parent = fs.readdirSync(scratch).filter((n) => !['repo', 'home', 'sandbox'].includes(n))
  return [...found, ...parent.map((n) => `../${n}`)]
}

function freshSandbox(): void {
  fs.rmSync(sandbox, { recursive: true, force: true })
  fs.mkdirSync(outside, { recursive: true })
}

describe('a crafted snapshot cannot escape the restore target', () => {
  it('bad names: nothing outside, the bad entries reported, the good one restored', async () => {
    freshSandbox()
    const r = await plakar(['on', repo, 'pull', '-path', target, snaps.names], env)
    expect(escapes()).toEqual([])
    expect(r.status, r.stderr).not.toBe(0)
    expect(r.stderr).not.toMatch(/^\s+at /m)
    expect(fs.readFileSync(path.join(target, 'good.txt'))).toEqual(GOOD)
    const link = fs.lstatSync(path.join(target, 'link'), { throwIfNoEntry: false })
    if (link) expect(link.isSymbolicLink()).toBe(true)
  })

  it('a symlink from one snapshot, then a directory through it from another, in one pull', async () => {
    freshSandbox()
    const r = await plakar(['on', repo, 'pull', '-path', target, snaps.linkFirst, snaps.throughLink], env)
    expect(escapes()).toEqual([])
    expect(r.stderr).not.toMatch(/^\s+at /m)
    expect(fs.readFileSync(path.join(target, 'ok.txt'))).toEqual(GOOD)
  })

  it('a symlink left by an earlier pull is not followed by the next one', async () => {
    freshSandbox()
    await ok(['on', repo, 'pull', '-path', target, snaps.linkFirst], env)
    expect(fs.lstatSync(path.join(target, 'link')).isSymbolicLink()).toBe(true)
    const r = await plakar(['on', repo, 'pull', '-path', target, snaps.throughLink], env)
    expect(escapes()).toEqual([])
    expect(r.stderr).not.toMatch(/^\s+at /m)
  })

  it('a directory that repeats a name (symlink, then directory) is refused', async () => {
    freshSandbox()
    const r = await plakar(['on', repo, 'pull', '-path', target, snaps.repeated], env)
    expect(escapes()).toEqual([])
    expect(r.status).not.toBe(0)
    expect(r.stderr).not.toMatch(/^\s+at /m)
  })

  it('a snapshot path with .. in it stays inside the target', async () => {
    freshSandbox()
    for (const ref of [
      `${snaps.names}:/../..`,
      `${snaps.names}:../../outside`,
      `${snaps.linkFirst}:/link/..`,
    ]) {
      const r = await plakar(['on', repo, 'pull', '-path', target, ref], env)
      expect(escapes(), ref).toEqual([])
      expect(r.stderr, ref).not.toMatch(/^\s+at /m)
    }
  })
})
