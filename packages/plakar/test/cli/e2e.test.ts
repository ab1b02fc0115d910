import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { compareTrees, makeTree } from '../snapshot/tree-fixture.js'
import { schemas } from '../storage/postgres-fixture.js'
import { createRepository } from './repository.js'
import { plakar } from './run-cli.js'

// Each test runs the CLI several times as child processes: allow for a busy machine.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 })
/**
 * The plakar CLI as a user runs it, as a child process, on a real tree holding every kind
 * of file, on each backend (fs, sqlite, postgres): push, ls, cat, pull (compared byte for byte and by metadata),
 * info, diff, find, the cache, and the errors a user can cause. `create` through the CLI
 * is tested below; these repositories are created through the library with a cheap KDF so
 * that each command does not spend most of its time deriving the key.
 */
const root = process.getuid?.() === 0
let work: string
let env: Record<string, string>
const PASSPHRASE = 'e2e secret'

beforeAll(() => {
  work = fs.mkdtempSync(join(tmpdir(), 'plakar-e2e-'))
  fs.mkdirSync(join(work, 'home'))
  env = { HOME: join(work, 'home'), XDG_CACHE_HOME: join(work, 'cache'), PLAKAR_PASSPHRASE: PASSPHRASE }
})

const pgSchemas = schemas('plakar_e2e')

afterAll(async () => {
  await pgSchemas.dropAll()
  spawnSync('chmod', ['-R', 'u+w', work])
  fs.rmSync(work, { recursive: true, force: true })
})

/** A CLI run that succeeded silently on stderr; otherwise its stderr, for the failure message. */
function ok(r: { status: number | null; stderr: string }): true | string {
  return r.status === 0 && r.stderr === '' ? true : `exit ${r.status}: ${r.stderr}`
}

function makeSource(dir: string): string {
  const src = join(dir, 'src')
  makeTree(src, { wide: 200 })
  if (root) {
    spawnSync('mknod', [join(src, 'null-device'), 'c', '1', '3'])
    fs.writeFileSync(join(src, 'owned'), 'someone else\n')
    fs.chownSync(join(src, 'owned'), 1234, 5678)
  }
  return src
}

describe.each([
  ['fs', () => `fs://${join(work, 'repo-fs')}`],
  ['sqlite', () => `sqlite://${join(work, 'repo.db')}`],
  ['postgres', pgSchemas.fresh],
])('plakar on a %s repository', (name, location) => {
  let repo: string
  let first: string
  let base: string
  let src: string
  const cli = (...args: string[]) => plakar(['on', repo, ...args], { env, cwd: base })

  beforeAll(async () => {
    repo = location()
    base = join(work, name)
    fs.mkdirSync(base)
    src = makeSource(base)
    await createRepository(repo, PASSPHRASE)
  })

  it('backs up the tree and lists the snapshot as the article does', async () => {
    const r = await cli('push', '-tag', 'first', 'src')
    expect(r.stderr).toBe('')
    expect([r.status, r.stderr]).toEqual([0, ''])
    expect(r.stdout.toString()).toMatch(/^push: snapshot [0-9a-f]{8}: \d+ files \(0 unchanged\), /)
    const ls = await cli('ls')
    const lines = ls.stdout.toString().trim().split('\n')
    expect(lines).toHaveLength(1)
    const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) {2}([0-9a-f-]{36}) +[\d.]+ [kMG]?B (.*)$/.exec(lines[0]!)
    expect(m?.[3]).toBe(src)
    first = m![2]!
  })

  it('restores the tree byte for byte with its metadata', async () => {
    const r = await cli('pull', '-path', 'out-full', first.slice(0, 8))
    expect(r.stderr).toBe('')
    expect([r.status, r.stderr]).toEqual([0, ''])
    expect(compareTrees(src, join(base, 'out-full', src), { owners: root })).toEqual([])
    const rebased = await cli('restore', '-path', 'out-rebase', '-rebase', `latest:${src}/dir`)
    expect([rebased.status, rebased.stderr]).toEqual([0, ''])
    expect(compareTrees(join(src, 'dir'), join(base, 'out-rebase', 'dir'), { owners: root })).toEqual([])
    expect(fs.readdirSync(join(base, 'out-rebase'))).toEqual(['dir'])
    const sparse = fs.statSync(join(base, 'out-full', src, 'sparse.img'))
    expect(sparse.size).toBe(12 * 1024 * 1024)
    expect(sparse.blocks * 512).toBeLessThan(1024 * 1024)
  })

  it('lists a directory like ls -l, recursively, and prints files', async () => {
    const ls = await cli('ls', `latest:${src}`)
    expect([ls.status, ls.stderr]).toEqual([0, ''])
    const out = ls.stdout.toString('latin1')
    expect(out).toMatch(/^-rw-r--r-- \S+ +\S+ +12 2021-11-27 00:12 hello\.txt$/m)
    expect(out).toMatch(/^lrwxrwxrwx .* link-rel -> hello\.txt$/m)
    expect(out).toMatch(/^dr-xr-xr-x .* readonly-dir$/m)
    expect(out).toMatch(/^prw-r--r-- .* fifo$/m)
    expect(out).toMatch(/^-rwxr-sr-x .* setgid-file$/m)
    expect(
      ls.stdout.includes(Buffer.from([0x6c, 0x61, 0x74, 0x69, 0x6e, 0x31, 0x2d, 0xe9, 0xff, 0x01])),
    ).toBe(true)
    const rec = await cli('ls', '-recursive', `${first}:${src}/dir`)
    expect(rec.stdout.toString()).toContain(`${src}/dir/sub/deeper/notes.md\n`)
    const cat = await cli('cat', `latest:${src}/hello.txt`, `latest:${src}/dir/large.bin`)
    expect([cat.status, cat.stderr]).toEqual([0, ''])
    expect(
      cat.stdout.equals(
        Buffer.concat([fs.readFileSync(join(src, 'hello.txt')), fs.readFileSync(join(src, 'dir/large.bin'))]),
      ),
    ).toBe(true)
    const info = await cli('info', 'latest')
    expect(info.stdout.toString()).toMatch(/^Tags: +first$/m)
    expect(info.stdout.toString()).toMatch(/^Errors: +0$/m)
    const repoInfo = await cli('info')
    expect(repoInfo.stdout.toString()).toMatch(/^Snapshots: +1$/m)
  })

  it('does not read unchanged files again, and diffs the snapshots', async () => {
    fs.writeFileSync(join(src, 'dir/sub/changed.txt'), 'new file\n')
    fs.appendFileSync(join(src, 'exec.sh'), 'echo more\n')
    const r = await cli('push', 'src')
    expect([r.status, r.stderr]).toEqual([0, ''])
    const unchanged = Number(/\((\d+) unchanged\)/.exec(r.stdout.toString())?.[1])
    expect(unchanged).toBeGreaterThan(200)
    const d = await cli('diff', first, 'latest')
    expect([d.status, d.stderr]).toEqual([0, ''])
    const lines = d.stdout.toString().split('\n')
    expect(lines).toContain(`+ ${src}/dir/sub/changed.txt`)
    expect(lines).toContain(`~ ${src}/exec.sh`)
    expect(lines.filter((l) => l.includes('wide/'))).toEqual([])
    const f = await cli('find', 'changed.txt')
    expect(f.stdout.toString().trim().split('\n')).toHaveLength(1)
    const all = await cli('find', 'notes.md')
    expect(all.stdout.toString().trim().split('\n')).toHaveLength(2)
    const none = await cli('find', 'no-such-name')
    expect(none.status).toBe(1)
    expect(none.stderr).toBe('plakar: find: no-such-name: in no snapshot\n')
    const noCache = await plakar(['-no-cache', 'on', repo, 'push', 'src'], { env, cwd: base })
    expect([noCache.status, noCache.stderr]).toEqual([0, ''])
    expect(noCache.stdout.toString()).toContain('(0 unchanged)')
  })

  it('reports what a user gets wrong in one line, with a non-zero exit', async () => {
    const cases: [string[], Record<string, string>, number, RegExp][] = [
      [['ls'], { PLAKAR_PASSPHRASE: 'wrong' }, 1, /^plakar: wrong passphrase for this repository\n$/],
      [
        ['ls'],
        { PLAKAR_PASSPHRASE: '' },
        1,
        /^plakar: no passphrase: set PLAKAR_PASSPHRASE, use -keyfile FILE, or run on a terminal\n$/,
      ],
      [['cat', 'ffffffff:/x'], {}, 1, /^plakar: ffffffff: no such snapshot\n$/],
      [['cat', `latest:${src}/nope`], {}, 1, /^plakar: [0-9a-f]{8}:.*\/nope: no such file or directory\n$/],
      [['cat', `latest:${src}/dir`], {}, 1, /not a regular file \(dir\)\n$/],
      [['ls', 'zz'], {}, 1, /^plakar: zz: not a snapshot id\n$/],
      [['push', 'does-not-exist'], {}, 1, /^plakar: \/.*\/does-not-exist: no such file or directory\n$/],
      [['pull', '-path', '/proc/version', 'latest'], {}, 1, /^plakar: \/proc\/version: /],
      [['push', '-frob', 'src'], {}, 2, /^plakar: push: unknown flag -frob \(see "plakar help push"\)\n$/],
    ]
    for (const [args, extra, status, message] of cases) {
      const r = await plakar(['on', repo, ...args], { env: { ...env, ...extra }, cwd: base })
      expect([args, r.status, r.stderr]).toEqual([args, status, expect.stringMatching(message)])
    }
  })

  it('lists the candidates of an ambiguous prefix', async () => {
    const ids = (await cli('ls')).stdout
      .toString()
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/)[1]!)
    expect(ids).toHaveLength(3)
    const common = ids.reduce((p, id) => {
      let i = 0
      while (i < p.length && p[i] === id[i]) i++
      return p.slice(0, i)
    })
    const r = await cli('info', common)
    if (common === '') {
      expect(r.status).toBe(1)
      return
    }
    expect(r.status).toBe(1)
    expect(r.stderr).toContain('ambiguous, matches')
    for (const id of ids) expect(r.stderr).toContain(id)
  })
})

describe('plakar create', () => {
  let src: string
  beforeAll(() => {
    fs.mkdirSync(join(work, 'create'))
    src = join(work, 'create/src')
    fs.mkdirSync(join(src, 'dir'), { recursive: true })
    fs.writeFileSync(join(src, 'hello.txt'), 'hello world\n')
  })

  it('creates an encrypted repository in ~/.plakar, and refuses to create it twice', async () => {
    const r = await plakar(['create'], { env, cwd: work })
    expect(r.stderr).toBe('')
    expect([r.status, r.stderr]).toEqual([0, ''])
    expect(r.stdout.toString()).toBe(`created repository fs://${env.HOME}/.plakar (encrypted, compressed)\n`)
    const again = await plakar(['create'], { env, cwd: work })
    expect(again.status).toBe(1)
    expect(again.stderr).toBe(`plakar: a repository already exists at fs://${env.HOME}/.plakar\n`)
    const push = await plakar(['push', src], { env, cwd: work })
    expect([push.status, push.stderr]).toEqual([0, ''])
  })

  it('lists the other snapshots when one is damaged', async () => {
    expect((await plakar(['push', src], { env, cwd: work })).status).toBe(0)
    const dir = join(env.HOME!, '.plakar/snapshots')
    const files = fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile())
    expect(files).toHaveLength(2)
    const victim = join(files[0]!.parentPath, files[0]!.name)
    const bytes = fs.readFileSync(victim)
    bytes[bytes.length >> 1]! ^= 0xff
    fs.writeFileSync(victim, bytes)
    const ls = await plakar(['ls'], { env, cwd: work })
    expect(ls.status).toBe(1)
    expect(ls.stdout.toString().trim().split('\n')).toHaveLength(1)
    expect(ls.stderr).toMatch(/^plakar: ls: snapshot [0-9a-f-]{36}: .*damaged.*\n$/)
  })

  it('reads the passphrase from -keyfile', async () => {
    const keyfile = join(work, 'key')
    fs.writeFileSync(keyfile, 'from a file\n')
    const repo = join(work, 'repo-keyfile')
    const home = { HOME: env.HOME! }
    const run = (...a: string[]) => plakar(['-keyfile', keyfile, 'on', repo, ...a], { env: home, cwd: work })
    expect(ok(await run('create'))).toBe(true)
    expect(ok(await run('push', src))).toBe(true)
    const ls = await plakar(['on', repo, 'ls'], { env: { ...home, PLAKAR_PASSPHRASE: 'from a file' } })
    expect([ls.status, ls.stderr]).toEqual([0, ''])
    const missing = await plakar(['-keyfile', join(work, 'nope'), 'on', repo, 'ls'], { env: home })
    expect(missing.status).toBe(1)
    expect(missing.stderr).toMatch(/^plakar: -keyfile .*nope: no such file or directory\n$/)
  })

  it('creates an unencrypted repository without asking a passphrase', async () => {
    const repo = `sqlite://${join(work, 'plain.db')}`
    const run = (...a: string[]) => plakar(['at', repo, ...a], { env: { HOME: env.HOME! }, cwd: work })
    const c = await run('create', '-no-encryption', '-no-compression')
    expect(c.stdout.toString()).toMatch(/not encrypted, not compressed/)
    const push = await run('push', src)
    expect([push.status, push.stderr]).toEqual([0, ''])
    expect((await run('cat', `latest:${src}/hello.txt`)).stdout.toString()).toBe('hello world\n')
  })
})
