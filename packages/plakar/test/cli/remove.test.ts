import { randomBytes, randomUUID } from 'node:crypto'
import * as fs from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStore, Repository } from '@poolp/plakar'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { compareTrees } from '../snapshot/tree-fixture.js'
import { plakar } from './run-cli.js'

vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 })

/**
 * rm and keep through the CLI, as child processes, on both backends: filters, policies,
 * dry runs, a second run that has nothing left to do, a damaged snapshot, and what a user
 * gets wrong. The policies' rules themselves are tested in test/maintenance.
 */
let work: string
let env: Record<string, string>

beforeAll(() => {
  work = fs.mkdtempSync(join(tmpdir(), 'plakar-rm-'))
  env = { HOME: work, XDG_CACHE_HOME: join(work, 'cache'), PLAKAR_PASSPHRASE: 'rm secret' }
})

afterAll(() => fs.rmSync(work, { recursive: true, force: true }))

async function snapshots(cli: (...a: string[]) => ReturnType<typeof plakar>): Promise<string[]> {
  const ls = await cli('ls')
  expect([ls.status, ls.stderr]).toEqual([0, ''])
  return ls.stdout
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((l) => /([0-9a-f-]{36})/.exec(l)![1]!)
}

describe.each([
  ['fs', () => `fs://${join(work, 'repo-fs')}`],
  ['sqlite', () => `sqlite://${join(work, 'repo.db')}`],
])('rm and keep on a %s repository', (name, location) => {
  let repo: string
  let src: string
  const cli = (...args: string[]) => plakar(['on', repo, ...args], { env, cwd: work })
  const tagged: Record<string, string> = {}

  beforeAll(async () => {
    repo = location()
    src = join(work, `src-${name}`)
    fs.mkdirSync(join(src, 'd'), { recursive: true })
    fs.writeFileSync(join(src, 'd/a.txt'), 'alpha\n')
    const store = openStore(repo)
    const r = await Repository.create(store, {
      passphrase: Buffer.from('rm secret'),
      compression: true,
      kdf: { N: 1 << 10, r: 8, p: 1 },
      cacheDir: null,
      ownsStore: true,
    })
    await r.close()
    for (const tag of ['a', 'b', 'a2', 'c']) {
      fs.writeFileSync(join(src, `${tag}.txt`), `${tag}\n`)
      const push = await cli('push', '-tag', tag.slice(0, 1), src)
      expect([push.status, push.stderr]).toEqual([0, ''])
      tagged[tag] = (await snapshots(cli)).at(-1)!
    }
  })

  it('asks for a snapshot or a filter, and rejects bad values in one line', async () => {
    for (const [args, message] of [
      [['rm'], 'no SNAPSHOT or filter given (to remove every snapshot, say -older 0h)'],
      [
        ['rm', '-older', '3x'],
        'bad duration "3x": use numbers with units y, m (months), w, d, h, e.g. 30d or 1y6m',
      ],
      [['keep'], 'no N and no rule given: say what to keep'],
      [['keep', '-daily', 'x'], '-daily takes a count, not "x"'],
      [['keep', '-last', '2', '3'], 'keep N takes no policy flags'],
      [['keep', '-last', '1', '-group-by', 'user'], '-group-by takes host, paths, tags, not "user"'],
    ] as const) {
      const r = await cli(...args)
      expect(r.status, args.join(' ')).toBe(2)
      expect(r.stderr).toBe(`plakar: ${args[0]}: ${message} (see "plakar help ${args[0]}")\n`)
      expect(r.stdout.toString()).toBe('')
    }
    expect(await snapshots(cli)).toHaveLength(4)
  })

  it('shows what a dry run would remove, and removes nothing', async () => {
    const rm = await cli('rm', '-dry-run', '-tag', 'a')
    expect([rm.status, rm.stderr]).toEqual([0, ''])
    const out = rm.stdout.toString()
    expect(out).toMatch(/^would remove /m)
    expect(out).toContain(tagged.a)
    expect(out).toContain(tagged.a2)
    expect(out).toMatch(/^rm: 2 snapshots would be removed \(dry run\)$/m)
    const keep = await cli('keep', '-dry-run', '-last', '1', '-tag', 'b')
    expect([keep.status, keep.stderr]).toEqual([0, ''])
    const lines = keep.stdout.toString().split('\n')
    expect(lines.find((l) => l.includes(tagged.c!))).toMatch(/^ {2}keep .*\(last\)$/)
    expect(lines.find((l) => l.includes(tagged.b!))).toMatch(/^ {2}keep .*\(tag b\)$/)
    expect(lines.find((l) => l.includes(tagged.a!))).toMatch(/^ {2}remove /)
    expect(lines).toContain('keep: 2 kept, 2 would be removed (dry run)')
    expect(await snapshots(cli)).toHaveLength(4)
  })

  it('removes by filter and by prefix; a snapshot already gone is named, the rest removed', async () => {
    const rm = await cli('rm', '-tag', 'a')
    expect([rm.status, rm.stderr]).toEqual([0, ''])
    expect(rm.stdout.toString()).toMatch(/^rm: 2 snapshots removed; their data stays until plakar prune$/m)
    expect((await snapshots(cli)).sort()).toEqual([tagged.b, tagged.c].sort())
    const again = await cli('rm', tagged.a!, tagged.b!.slice(0, 8))
    expect(again.status).toBe(1)
    expect(again.stderr).toBe(`plakar: rm: ${tagged.a}: no such snapshot\n`)
    expect(await snapshots(cli)).toEqual([tagged.c])
    const none = await cli('rm', '-host', 'no-such-host')
    expect([none.status, none.stdout.toString()]).toEqual([
      0,
      'rm: 0 snapshots removed; their data stays until plakar prune\n',
    ])
  })

  it('keeps the N newest, and a second run removes nothing; what stays restores', async () => {
    for (const n of [1, 2, 3]) {
      fs.writeFileSync(join(src, 'd/a.txt'), `alpha ${n}\n`)
      expect((await cli('push', src)).status).toBe(0)
    }
    const before = await snapshots(cli)
    const keep = await cli('keep', '2')
    expect([keep.status, keep.stderr]).toEqual([0, ''])
    expect(keep.stdout.toString()).toMatch(/^keep: 2 kept, 2 removed; /m)
    expect(await snapshots(cli)).toEqual(before.slice(-2))
    const again = await cli('keep', '2')
    expect(again.stdout.toString()).toMatch(/^keep: 2 kept, 0 removed; /m)
    const pull = await cli('pull', '-path', join(work, `out-${name}`), '-rebase', `latest:${src}`)
    expect([pull.status, pull.stderr]).toEqual([0, ''])
    expect(compareTrees(src, join(work, `out-${name}`, `src-${name}`))).toEqual([])
  })

  it('never removes an unreadable snapshot by policy, but rm removes it by its uuid', async () => {
    const uuid = randomUUID()
    const store = openStore(repo)
    await store.put('snapshot', uuid.replaceAll('-', ''), randomBytes(100))
    await store.close()
    const keep = await cli('keep', '1')
    expect(keep.status).toBe(1)
    expect(keep.stderr).toMatch(new RegExp(`^plakar: keep: snapshot ${uuid} cannot be read, left alone: `))
    const rm = await cli('rm', uuid)
    expect(rm.status).toBe(0)
    expect(rm.stdout.toString()).toContain(`removed ${uuid} (unreadable)`)
    const ls = await cli('ls')
    expect([ls.status, ls.stderr]).toEqual([0, ''])
  })
})
