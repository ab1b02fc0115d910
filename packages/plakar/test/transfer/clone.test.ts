/**
 * plakar clone as a user runs it, between real backends: fs, the machine's PostgreSQL,
 * SQLite, and a real plakar server. Each copy holds exactly the source's objects, checks
 * clean and restores byte for byte; a clone killed with SIGKILL, again and again, finishes
 * when run again and leaves the destination exact.
 */
import { createHash, randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStore, Repository } from '@poolp/plakar'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { COPIED_KINDS } from '../../src/repository/index.js'
import { createRepository } from '../cli/repository.js'
import { plakar } from '../cli/run-cli.js'
import { ensureServerUser, removeBase, serverBase, startServer, TOKENS } from '../server/daemon.js'
import { compareTrees, makeTree } from '../snapshot/tree-fixture.js'
import { schemas } from '../storage/postgres-fixture.js'
import { count, killLooped } from './kill-loop.js'

vi.setConfig({ testTimeout: 300_000, hookTimeout: 120_000 })

const pg = schemas('plakar_clone')
let work: string
let env: Record<string, string>
let src: string
let source: string

beforeAll(async () => {
  work = fs.mkdtempSync(join(tmpdir(), 'plakar-clone-'))
  env = {
    HOME: join(work, 'home'),
    XDG_CACHE_HOME: join(work, 'cache'),
    PLAKAR_PASSPHRASE: 'clone secret',
    PLAKAR_TOKEN: TOKENS.full,
  }
  fs.mkdirSync(env.HOME!)
  // This process reads the plakar:// copy too (objects()), as the CLI does: by PLAKAR_TOKEN.
  process.env.PLAKAR_TOKEN = TOKENS.full
  src = join(work, 'src')
  makeTree(src, { wide: 100 })
  // Incompressible, in small packs: a clone of many objects, long enough to be killed.
  fs.writeFileSync(join(src, 'random.bin'), randomBytes(12 << 20))
  source = join(work, 'source')
  await createRepository(source, env.PLAKAR_PASSPHRASE!, { packSize: 512 << 10 })
  for (const tag of ['one', 'two']) {
    fs.writeFileSync(join(src, 'changing.txt'), `version ${tag}\n`)
    const r = await cli(source, 'push', '-tag', tag, src)
    expect([r.status, r.stderr]).toEqual([0, ''])
  }
})

afterAll(async () => {
  await pg.dropAll()
  fs.rmSync(work, { recursive: true, force: true })
})

function cli(location: string, ...args: string[]) {
  return plakar(['on', location, ...args], { env, cwd: work })
}

/** kind/name -> SHA-256 of every object a copy takes (locks are the writers' own). */
async function objects(location: string): Promise<Map<string, string>> {
  const store = openStore(location)
  const out = new Map<string, string>()
  try {
    for (const kind of COPIED_KINDS) {
      for await (const info of store.list(kind)) {
        out.set(
          `${kind}/${info.name}`,
          createHash('sha256')
            .update(await store.get(kind, info.name))
            .digest('hex'),
        )
      }
    }
  } finally {
    await store.close()
  }
  return out
}

/** The copy at `location` is the source, exactly: same objects, checks clean, restores. */
async function expectExact(location: string, label: string): Promise<void> {
  expect(await objects(location), label).toEqual(await objects(source))
  const check = await cli(location, 'check')
  expect([label, check.status, check.stderr]).toEqual([label, 0, ''])
  const out = join(work, `restored-${label}`)
  const pull = await cli(location, 'pull', '-path', out, 'latest')
  expect([label, pull.status, pull.stderr]).toEqual([label, 0, ''])
  expect(compareTrees(src, join(out, src)), label).toEqual([])
}

describe('plakar clone', () => {
  it('copies fs -> postgres -> sqlite -> fs -> plakar://, each copy exact', async () => {
    ensureServerUser()
    const base = serverBase()
    const server = await startServer({ repository: join(base, 'served'), dir: base })
    try {
      const chain = [
        source,
        pg.fresh(),
        `sqlite://${join(work, 'copy.db')}`,
        join(work, 'copy-fs'),
        server.tcp,
      ]
      for (let i = 1; i < chain.length; i++) {
        const r = await cli(chain[i - 1]!, 'clone', chain[i]!)
        expect([chain[i], r.status, r.stderr]).toEqual([chain[i], 0, ''])
        expect(r.stdout.toString()).toMatch(/^clone: .* \(created\): \d+ objects copied .* 2 snapshots in /)
        await expectExact(chain[i]!, `hop${i}`)
      }
    } finally {
      await server.stop()
      removeBase(base)
    }
  })

  it('copies only what the destination lacks, and gives each copy caches of its own', async () => {
    const dest = join(work, 'incremental')
    expect((await cli(source, 'clone', dest)).status).toBe(0)
    const again = await cli(source, 'clone', dest)
    expect([again.status, again.stderr]).toEqual([0, ''])
    expect(again.stdout.toString()).toMatch(/: 0 objects copied .* already there/)

    fs.writeFileSync(join(src, 'changing.txt'), 'version three\n')
    expect((await cli(source, 'push', src)).status).toBe(0)
    const before = await objects(dest)
    const more = await cli(source, 'clone', dest)
    expect([more.status, more.stderr]).toEqual([0, ''])
    const added = [...(await objects(source)).keys()].filter((k) => !before.has(k))
    expect(added.length).toBeGreaterThan(0)
    expect(more.stdout.toString()).toContain(`: ${added.length} objects copied`)
    await expectExact(dest, 'incremental')

    // One id, two locations: two local caches, neither reset by the other.
    const caches = fs
      .readdirSync(join(work, 'cache', 'plakar'))
      .filter((f) => /^[0-9a-f]+-[0-9a-f]{16}\.db$/.test(f))
    const id = caches.map((f) => f.split('-')[0])
    expect(new Set(id).size).toBe(1)
    expect(caches.length).toBeGreaterThanOrEqual(2)
  })

  it('refuses another repository and never copies a damaged object', async () => {
    const other = join(work, 'other')
    const store = openStore(other)
    await (await Repository.create(store, { passphrase: null, compression: false, cacheDir: null })).close()
    await store.close()
    const refused = await cli(source, 'clone', other)
    expect(refused.status).toBe(1)
    expect(refused.stderr).toMatch(/^plakar: .*other holds another repository: .*\n$/)

    // A copy of the source with one pack damaged on disk.
    const damaged = join(work, 'damaged')
    expect((await cli(source, 'clone', damaged)).status).toBe(0)
    const packs = join(damaged, 'packs')
    const sub = fs.readdirSync(packs)[0]!
    const victim = join(packs, sub, fs.readdirSync(join(packs, sub))[0]!)
    fs.chmodSync(victim, 0o600)
    const bytes = fs.readFileSync(victim)
    bytes[100]! ^= 1
    fs.writeFileSync(victim, bytes)
    const dest = join(work, 'from-damaged')
    const r = await cli(damaged, 'clone', dest)
    expect(r.status).toBe(1)
    expect(r.stderr).toMatch(/^plakar: pack [0-9a-f]{64}: content does not match its name \(damaged\)\n$/)
    const copied = await objects(dest)
    expect(copied.has(`pack/${victim.split('/').pop()}`)).toBe(false)
    // Nothing names what is missing: no index or snapshot went before every pack was there.
    expect([...copied.keys()].filter((k) => k.startsWith('snapshot/') || k.startsWith('index/'))).toEqual([])
  })

  it.each([
    ['fs', () => join(work, 'killed-fs')],
    ['postgres', () => pg.fresh()],
  ])(
    'killed with SIGKILL again and again (%s), then run again: finishes, and the copy is exact',
    async (_, to) => {
      const dest = to()
      const total = (await objects(source)).size
      const killed = await killLooped({
        args: ['on', source, 'clone', dest],
        env,
        dest,
        done: async () => (await count(dest)) === total,
      })
      expect(killed).toBeGreaterThan(0)
      const last = await cli(source, 'clone', dest)
      expect([last.status, last.stderr]).toEqual([0, ''])
      await expectExact(dest, `killed-${_}`)
      if (!dest.includes('://')) {
        const junk = fs.readdirSync(dest, { recursive: true }).filter((f) => String(f).includes('.tmp-'))
        expect(junk).toEqual([])
      }
    },
  )
})
