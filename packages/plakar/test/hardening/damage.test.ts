/**
 * A damaged repository file gives a clear error and never garbage output: after one byte of
 * a pack, an index, a snapshot, a key or the config is flipped (or a pack is cut short),
 * `pull` and `cat` either fail with one clear line per problem and a non-zero exit, or
 * succeed with exact bytes; a file they do write is always the file that was backed up.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BACKENDS, type Backend, corpusTree, ok, PASSPHRASE, type PlakarEnv, plakar } from './harness.js'

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'plakar-damage-'))
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }))

type Kind = 'pack' | 'index' | 'snapshot' | 'key' | 'config'
type Damage = 'flip' | 'truncate'
const FS_DIRS: Record<Kind, string> = {
  pack: 'packs',
  index: 'index',
  snapshot: 'snapshots',
  key: 'keys',
  config: 'config',
}

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return []
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const abs = path.join(dir, e.name)
    if (e.isDirectory()) return filesUnder(abs)
    return e.isFile() && !e.name.startsWith('.') ? [abs] : []
  })
}

/** Damages the biggest object of `kind` in a copy of the repository; returns its name. */
function damage(backend: Backend, repoDir: string, kind: Kind, how: Damage): string {
  if (backend.name === 'fs') {
    const [victim] = filesUnder(path.join(repoDir, 'repo', FS_DIRS[kind])).sort(
      (a, b) => fs.statSync(b).size - fs.statSync(a).size,
    )
    if (!victim) throw new Error(`no ${kind} object to damage`)
    const bytes = fs.readFileSync(victim)
    fs.chmodSync(victim, 0o644)
    if (how === 'truncate') fs.writeFileSync(victim, bytes.subarray(0, bytes.length >> 1))
    else {
      bytes[bytes.length >> 1]! ^= 0x40
      fs.writeFileSync(victim, bytes)
    }
    return path.basename(victim)
  }
  const db = new Database(path.join(repoDir, 'repo.db'))
  try {
    const victim = db
      .prepare<[string], { id: number; name: string; size: number }>(
        'SELECT id, name, size FROM objects WHERE kind = ? ORDER BY size DESC LIMIT 1',
      )
      .get(kind)
    if (!victim) throw new Error(`no ${kind} object to damage`)
    const segment = db
      .prepare<[number, number], { start: number; data: Buffer }>(
        'SELECT start, data FROM segments WHERE object = ? AND start <= ? ORDER BY start DESC LIMIT 1',
      )
      .get(victim.id, victim.size >> 1)!
    const data = Buffer.from(segment.data)
    data[(victim.size >> 1) - segment.start]! ^= 0x40
    db.prepare('UPDATE segments SET data = ? WHERE object = ? AND start = ?').run(
      data,
      victim.id,
      segment.start,
    )
    return victim.name
  } finally {
    db.close()
  }
}

/** Every regular file written below `restored` must equal the file it came from under `source`. */
function expectNoGarbage(restored: string, source: string): number {
  let exact = 0
  for (const file of filesUnder(restored)) {
    const rel = path.relative(restored, file)
    expect(
      fs.readFileSync(file).equals(fs.readFileSync(path.join(source, rel))),
      `restored ${rel} differs`,
    ).toBe(true)
    exact++
  }
  return exact
}

function expectClearError(stderr: string, status: number | null): void {
  expect(status, stderr).not.toBe(0)
  expect(status).not.toBeNull()
  expect(stderr.trim().length).toBeGreaterThan(0)
  expect(stderr).not.toMatch(/^\s+at /m)
}

const CASES: readonly [Kind, Damage][] = [
  ['pack', 'flip'],
  ['pack', 'truncate'],
  ['index', 'flip'],
  ['snapshot', 'flip'],
  ['key', 'flip'],
  ['config', 'flip'],
]

describe.each(BACKENDS)('a damaged repository ($name)', (backend) => {
  const pristine = path.join(scratch, backend.name, 'pristine')
  const env: PlakarEnv = { home: path.join(scratch, backend.name, 'home'), passphrase: PASSPHRASE }
  let tree: string
  let biggest: string

  beforeAll(async () => {
    tree = corpusTree(path.join(scratch, 'corpus'), 71, 0.004)
    biggest = filesUnder(tree).sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)[0]!
    fs.mkdirSync(env.home, { recursive: true })
    fs.mkdirSync(pristine, { recursive: true })
    await ok(['on', backend.location(pristine), 'create'], env)
    await ok(['on', backend.location(pristine), 'push', tree], env)
  })

  const cases = CASES.filter(([, how]) => how === 'flip' || backend.name === 'fs')
  it.each(cases)('%s, %s: clear error or exact bytes', async (kind, how) => {
    const copy = path.join(scratch, backend.name, `${kind}-${how}`)
    fs.cpSync(pristine, copy, { recursive: true })
    const victim = damage(backend, copy, kind, how)
    const repo = backend.location(copy)
    // A fresh cache: the damage must be met in the repository, not hidden by a cache.
    const fresh: PlakarEnv = { ...env, home: path.join(copy, 'home') }
    fs.mkdirSync(fresh.home, { recursive: true })

    const target = path.join(copy, 'restore')
    const pull = await plakar(['on', repo, 'pull', '-path', target, 'latest'], fresh)
    const restored = path.join(target, tree)
    const exact = expectNoGarbage(restored, tree)
    if (pull.status === 0)
      expect(exact, `pull succeeded despite ${kind} ${victim}`).toBe(filesUnder(tree).length)
    else expectClearError(pull.stderr, pull.status)

    const cat = await plakar(['on', repo, 'cat', `latest:${biggest}`], fresh)
    const original = fs.readFileSync(biggest)
    if (cat.status === 0) expect(cat.stdout.equals(original), 'cat printed other bytes').toBe(true)
    else {
      expectClearError(cat.stderr, cat.status)
      expect(original.subarray(0, cat.stdout.length).equals(cat.stdout), 'cat printed garbage').toBe(true)
    }
    if (kind === 'pack')
      expect(pull.status === 0 && cat.status === 0, 'a damaged pack went unnoticed').toBe(false)
  })
})
