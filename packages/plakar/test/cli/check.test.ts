import { randomBytes, randomUUID } from 'node:crypto'
import * as fs from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStore, Repository } from '@poolp/plakar'
import { FileCache, listHeaders, TreeReader, walk } from '@poolp/plakar/snapshot'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { plakar } from './run-cli.js'

vi.setConfig({ testTimeout: 300_000, hookTimeout: 180_000 })

/**
 * check through the CLI, as child processes, on both backends, against real damage done to
 * the stored objects: one byte flipped in each pack in turn (check names exactly the files
 * that lose data, pull restores the others), a truncated and a deleted pack (-fast sees
 * them without reading data), subsets that cover the packs once, unindexed packs, unused
 * blobs, and a snapshot object that does not open.
 */
let work: string
let env: Record<string, string>
const PASS = 'check secret'

beforeAll(() => {
  work = fs.mkdtempSync(join(tmpdir(), 'plakar-check-'))
  env = { HOME: work, XDG_CACHE_HOME: join(work, 'cache'), PLAKAR_PASSPHRASE: PASS }
})

afterAll(() => fs.rmSync(work, { recursive: true, force: true }))

/** Replaces a stored object with `change(bytes)`: what a failing disk or an attacker does. */
async function alter(location: string, kind: 'pack' | 'index', name: string, change: (b: Buffer) => Buffer) {
  const store = openStore(location)
  try {
    const bytes = Buffer.from(await store.get(kind, name))
    await store.delete(kind, name)
    await store.put(kind, name, change(bytes))
    return bytes
  } finally {
    await store.close()
  }
}

async function restoreObject(location: string, kind: 'pack' | 'index', name: string, bytes: Buffer) {
  const store = openStore(location)
  await store.delete(kind, name)
  await store.put(kind, name, bytes)
  await store.close()
}

interface Layout {
  /** Each pack: its first data blob (or tree blob when it has none), and whether it mixes both. */
  readonly packs: { name: string; blob: string; offset: number; tree: boolean; mixed: boolean }[]
  /** blob hex -> the files (absolute paths) whose content uses it. */
  readonly users: Map<string, Set<string>>
  readonly snapshot: string
}

/** Where everything is, read through the library: the expectations come from the repository. */
async function layout(location: string): Promise<Layout> {
  const store = openStore(location)
  const repo = await Repository.open(store, { passphrase: async () => Buffer.from(PASS), cacheDir: null })
  try {
    const [header] = await listHeaders(repo)
    const reader = new TreeReader(repo)
    const users = new Map<string, Set<string>>()
    for await (const [path, e] of walk(reader, header!.root, Buffer.from('/'))) {
      if (e.kind !== 'file' || e.content === undefined) continue
      for await (const id of reader.chunks(e.content)) {
        const k = id.toString('hex')
        if (!users.has(k)) users.set(k, new Set())
        users.get(k)!.add(path.toString())
      }
    }
    const m = repo.maintenance()
    const packs: Layout['packs'] = []
    for await (const info of m.listPacks()) {
      const h = await m.readPackHeader(info.name, info.size)
      const data = h.entries.find((e) => e.type === 'data')
      const e = data ?? h.entries[0]!
      packs.push({
        name: info.name,
        blob: Buffer.from(e.id).toString('hex'),
        offset: e.offset,
        tree: !data,
        mixed: data !== undefined && h.entries.some((x) => x.type === 'tree'),
      })
    }
    return { packs, users, snapshot: header!.uuid }
  } finally {
    await repo.close()
    await store.close()
  }
}

describe.each([
  ['fs', () => `fs://${join(work, 'repo-fs')}`],
  ['sqlite', () => `sqlite://${join(work, 'repo.db')}`],
])('check on a %s repository', (name, location) => {
  let repo: string
  let src: string
  let map: Layout
  const cli = (...args: string[]) => plakar(['on', repo, ...args], { env, cwd: work })

  beforeAll(async () => {
    repo = location()
    src = join(work, `src-${name}`)
    for (const d of ['a', 'b/c']) fs.mkdirSync(join(src, d), { recursive: true })
    // Files of 40-200 KB in small packs: a dozen packs, most files in one blob.
    for (let i = 0; i < 14; i++)
      fs.writeFileSync(join(src, i % 2 ? 'a' : 'b/c', `f${i}.bin`), randomBytes(40_000 + i * 12_000))
    fs.writeFileSync(join(src, 'same-1.txt'), 'shared content\n'.repeat(5000))
    fs.writeFileSync(join(src, 'a/same-2.txt'), 'shared content\n'.repeat(5000))
    const r = await Repository.create(openStore(repo), {
      passphrase: Buffer.from(PASS),
      compression: true,
      kdf: { N: 1 << 10, r: 8, p: 1 },
      packSize: 1 << 18,
      cacheDir: null,
      ownsStore: true,
    })
    await r.close()
    const push = await cli('push', src)
    expect([push.status, push.stderr]).toEqual([0, ''])
    map = await layout(repo)
    expect(map.packs.length).toBeGreaterThanOrEqual(4)
  })

  it('finds a clean repository clean, fully and fast', async () => {
    for (const args of [['check'], ['check', '-fast'], ['check', 'latest'], ['check', `latest:${src}/a`]]) {
      const r = await cli(...args)
      expect([r.status, r.stderr], args.join(' ')).toEqual([0, ''])
      expect(r.stdout.toString()).toMatch(/^check: 1 snapshot, \d+ files, \d+ blobs.*: no damage\n$/)
    }
  })

  it('names exactly the files that lose data when a byte flips in each pack in turn', async () => {
    for (const p of map.packs) {
      const old = await alter(repo, 'pack', p.name, (b) => {
        const c = Buffer.from(b)
        c[p.offset + 5]! ^= 0x40
        return c
      })
      try {
        const r = await cli('check')
        expect(r.status, r.stderr).toBe(4)
        const lines = r.stdout.toString().trim().split('\n')
        const damaged = lines.filter((l) => !l.startsWith('check:') && !l.startsWith('note:'))
        if (p.tree) {
          expect(damaged.length).toBeGreaterThan(0)
          expect(
            damaged.every(
              (l) => l.includes('(all below is lost)') || l.includes('tree') || l.includes('blob'),
            ),
          ).toBe(true)
          continue
        }
        const expected = [...(map.users.get(p.blob) ?? [])].sort()
        const named = damaged.map((l) => {
          const m = /^([0-9a-f]{8}):(.*): blob ([0-9a-f]{8})… in pack ([0-9a-f]{8})…: (.*)$/.exec(l)
          expect(m, l).not.toBeNull()
          expect(m![1]).toBe(map.snapshot.slice(0, 8))
          expect(m![3]).toBe(p.blob.slice(0, 8))
          expect(m![4]).toBe(p.name.slice(0, 8))
          expect(m![5]).toMatch(/authentication failed|does not match|decode/)
          return m![2]!
        })
        expect(named.sort()).toEqual(expected)
        expect(lines.at(-1)).toMatch(new RegExp(`: 1 problem, data lost under ${expected.length} paths?$`))
        // Everything else still restores, byte for byte.
        const out = join(work, `out-${name}`)
        fs.rmSync(out, { recursive: true, force: true })
        const pull = await cli('pull', '-path', out, 'latest')
        expect(pull.status).toBe(3)
        for (const [, files] of map.users)
          for (const f of files)
            if (!expected.includes(f))
              expect(fs.readFileSync(join(out, f)).equals(fs.readFileSync(f)), f).toBe(true)
      } finally {
        await restoreObject(repo, 'pack', p.name, old)
      }
    }
    expect((await cli('check')).status).toBe(0)
  })

  it('walks a directory once however many snapshots and paths hold it, and names them all', async () => {
    // x/ and y/ are the same directory (same entries, same times): one directory blob,
    // walked once, in two snapshots at two paths each. Damage under it is named four times.
    const tree = join(work, `shared-${name}`)
    const bytes = randomBytes(150_000)
    for (const d of ['x', 'y']) {
      fs.mkdirSync(join(tree, 'a', d), { recursive: true })
      fs.writeFileSync(join(tree, 'a', d, 'f.bin'), bytes)
      fs.utimesSync(join(tree, 'a', d, 'f.bin'), 1_600_000_000, 1_600_000_000)
    }
    fs.writeFileSync(join(tree, 'z.bin'), randomBytes(120_000))
    const loc = location().replace(/(repo-fs|repo\.db)$/, (m) => `shared-${m}`)
    const r = await Repository.create(openStore(loc), {
      passphrase: Buffer.from(PASS),
      compression: true,
      kdf: { N: 1 << 10, r: 8, p: 1 },
      packSize: 1 << 16,
      cacheDir: null,
      ownsStore: true,
    })
    await r.close()
    const run = (...args: string[]) => plakar(['on', loc, ...args], { env, cwd: work })
    for (let i = 0; i < 2; i++) expect((await run('push', tree)).status).toBe(0)
    const snaps = (await run('ls')).stdout.toString().match(/[0-9a-f]{8}-[0-9a-f-]{27}/g)!
    expect(snaps).toHaveLength(2)
    const clean = await run('check')
    expect([clean.status, clean.stdout.toString()]).toEqual([
      0,
      expect.stringMatching(/2 snapshots, 6 files/),
    ])
    const shared = await layout(loc)
    const victim = [...shared.users].find(([, files]) => [...files].some((f) => f.endsWith('/x/f.bin')))![0]
    const pack = shared.packs.find((p) => p.blob === victim)
    expect(pack).toBeDefined()
    const old = await alter(loc, 'pack', pack!.name, (b) => {
      const c = Buffer.from(b)
      c[pack!.offset + 5]! ^= 0x40
      return c
    })
    try {
      const c = await run('check')
      expect(c.status).toBe(4)
      const named = c.stdout
        .toString()
        .split('\n')
        .filter((l) => l.includes(`blob ${victim.slice(0, 8)}`))
        .map((l) => l.split(': blob')[0])
        .sort()
      const want = snaps.flatMap((u) =>
        ['x', 'y'].map((d) => `${u.slice(0, 8)}:${join(tree, 'a', d, 'f.bin')}`),
      )
      expect(named).toEqual(want.sort())
      expect(c.stdout.toString()).toMatch(/: 1 problem, data lost under 4 paths\n$/)
      // The same through a target path: only that snapshot and that path.
      const one = await run('check', `${snaps[0]!.slice(0, 8)}:${join(tree, 'a', 'y')}`)
      expect(one.status).toBe(4)
      expect(one.stdout.toString()).toContain(
        `${snaps[0]!.slice(0, 8)}:${join(tree, 'a', 'y', 'f.bin')}: blob`,
      )
      expect(one.stdout.toString()).toMatch(/: 1 problem, data lost under 1 path\n$/)
    } finally {
      await restoreObject(loc, 'pack', pack!.name, old)
    }
  })

  it('sees a truncated or a deleted pack without reading data', async () => {
    // A pack of data alone: one that also holds a directory loses the whole directory, and
    // check then names the directory rather than each file.
    const p = map.packs.find((x) => !x.tree && !x.mixed)!
    const old = await alter(repo, 'pack', p.name, (b) => b.subarray(0, p.offset + 1))
    try {
      const fast = await cli('check', '-fast')
      expect(fast.status).toBe(4)
      expect(fast.stdout.toString()).toMatch(/its pack is too short/)
      const store = openStore(repo)
      await store.delete('pack', p.name)
      await store.close()
      const gone = await cli('check', '-fast', 'latest')
      expect(gone.status).toBe(4)
      const files = [...map.users.get(p.blob)!]
      for (const f of files) expect(gone.stdout.toString()).toContain(`:${f}: blob ${p.blob.slice(0, 8)}…`)
      expect(gone.stdout.toString()).toMatch(/its pack is missing/)
    } finally {
      await restoreObject(repo, 'pack', p.name, old)
    }
  })

  it('reads each pack once across the parts of a subset, and refuses a bad subset', async () => {
    let total = 0
    for (const part of ['1/3', '2/3', '3/3']) {
      const r = await cli('check', '-subset', part)
      expect([r.status, r.stderr]).toEqual([0, ''])
      total += Number(/read from (\d+) packs/.exec(r.stdout.toString())![1])
    }
    expect(total).toBe(map.packs.length)
    for (const bad of ['0/3', '4/3', '3', '0%', '101%']) {
      const r = await cli('check', '-subset', bad)
      expect(r.status).toBe(2)
      expect(r.stderr).toMatch(/^plakar: check: -subset takes N\/M/)
    }
  })

  it('finds a file whose chunks are sound but whose content is not what was backed up', async () => {
    // A local file cache that lies (a disk error in ~/.cache, a bug): the next push takes
    // the record as it is, and only the whole-file digest can tell.
    expect((await cli('push', src)).status).toBe(0) // now the files are old enough to be cached
    const store = openStore(repo)
    const r = await Repository.open(store, {
      passphrase: async () => Buffer.from(PASS),
      cacheDir: null,
      ownsStore: true,
    })
    const key = r.cacheKey
    await r.close()
    const files = FileCache.open(join(work, 'cache', 'plakar'), `${key}-files`)
    const dir = Buffer.from(join(src, 'a'))
    const records = [...files.dir(dir).files].map(([n, rec]) => [Buffer.from(n, 'latin1'), rec] as const)
    const victim = records.find(([n]) => n.toString() === 'f1.bin')
    expect(victim).toBeDefined()
    files.putDir(
      dir,
      records.map(
        ([n, rec]) => [n, n === victim![0] ? { ...rec, digest: Buffer.alloc(32, 9) } : rec] as const,
      ),
    )
    files.close()
    const push = await cli('push', src)
    expect(push.stdout.toString()).toMatch(/\(\d+ unchanged\)/)
    const uuid = (await cli('ls')).stdout
      .toString()
      .trim()
      .split('\n')
      .at(-1)!
      .match(/[0-9a-f-]{36}/)![0]
    const c = await cli('check', 'latest')
    expect(c.status).toBe(4)
    expect(c.stdout.toString()).toContain(
      `${uuid.slice(0, 8)}:${join(src, 'a/f1.bin')}: its chunks, read in order, do not match the digest recorded at backup\n`,
    )
    expect(c.stdout.toString()).toMatch(/: 1 problem, data lost under 1 path\n$/)
    // The cache is only a hint: without it the next push reads every file again.
    expect((await cli('rm', 'latest')).status).toBe(0)
    fs.rmSync(join(work, 'cache'), { recursive: true, force: true })
    expect((await cli('check')).status).toBe(0)
  })

  it('notes unindexed packs and unused blobs, and reports a snapshot that does not open', async () => {
    const store = openStore(repo)
    const orphan = randomBytes(32).toString('hex')
    await store.put('pack', orphan, await store.get('pack', map.packs[0]!.name))
    const bad = randomUUID()
    await store.put('snapshot', bad.replaceAll('-', ''), randomBytes(64))
    await store.close()
    fs.writeFileSync(join(src, 'extra.bin'), randomBytes(300_000))
    expect((await cli('push', src)).status).toBe(0)
    expect((await cli('rm', 'latest')).status).toBe(0)
    const r = await cli('check')
    expect(r.status).toBe(4)
    const out = r.stdout.toString()
    expect(out).toContain(`snapshot ${bad}: cannot be read: `)
    expect(out).toMatch(
      /^note: 1 packs \(\d+ kB\) that no index names, left by interrupted pushes: plakar prune removes them$/m,
    )
    expect(out).toMatch(/^note: \d+ blobs \(\d+ kB\) that no snapshot uses: plakar prune gives them back$/m)
    const rm = await cli('rm', bad)
    expect(rm.status).toBe(0)
    const clean = await cli('check')
    expect(clean.status).toBe(0)
  })
})
