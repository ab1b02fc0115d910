import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStore, Repository } from '@poolp/plakar'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { plakar } from './run-cli.js'

vi.setConfig({ testTimeout: 180_000, hookTimeout: 120_000 })

/**
 * repair through the CLI, as child processes, on both backends, after real damage to the
 * stored objects: every index object removed, one truncated, a pack deleted. The index comes
 * back from the packs alone; what is lost is named per snapshot:path, and exactly those are
 * the files a pull then fails to restore (exit 3) while every other file restores byte for
 * byte.
 */
let work: string
let env: Record<string, string>

beforeAll(() => {
  work = fs.mkdtempSync(join(tmpdir(), 'plakar-repair-'))
  env = { HOME: work, XDG_CACHE_HOME: join(work, 'cache'), PLAKAR_PASSPHRASE: 'repair secret' }
})
afterAll(() => fs.rmSync(work, { recursive: true, force: true }))

async function names(location: string, kind: 'index' | 'pack'): Promise<string[]> {
  const store = openStore(location)
  try {
    const out: string[] = []
    for await (const o of store.list(kind)) out.push(o.name)
    return out.sort()
  } finally {
    await store.close()
  }
}

async function edit(location: string, kind: 'index' | 'pack', name: string, bytes?: (b: Buffer) => Buffer) {
  const store = openStore(location)
  try {
    const old = Buffer.from(await store.get(kind, name))
    await store.delete(kind, name)
    if (bytes) await store.put(kind, name, bytes(old))
  } finally {
    await store.close()
  }
}

/** Files below `dir`, relative, with their bytes. */
function files(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>()
  for (const d of fs.readdirSync(dir, { recursive: true, withFileTypes: true }))
    if (d.isFile()) {
      const p = join(d.parentPath, d.name)
      out.set(p.slice(dir.length), fs.readFileSync(p))
    }
  return out
}

/** A pack that holds file data and no directory (losing one of those loses whole subtrees). */
async function dataPack(location: string, passphrase: string): Promise<string> {
  const r = await Repository.open(openStore(location), {
    passphrase: async () => Buffer.from(passphrase),
    cacheDir: null,
    ownsStore: true,
  })
  try {
    const m = r.maintenance()
    for await (const info of m.listPacks()) {
      const h = await m.readPackHeader(info.name, info.size)
      if (h.entries.every((e) => e.type === 'data')) return info.name
    }
    throw new Error('no pack of data alone')
  } finally {
    await r.close()
  }
}

describe.each([
  ['fs', () => `fs://${join(work, 'repo-fs')}`],
  ['sqlite', () => `sqlite://${join(work, 'repo.db')}`],
])('repair on a %s repository', (name, location) => {
  let repo: string
  let src: string
  const cli = (...args: string[]) => plakar(['on', repo, ...args], { env, cwd: work })

  beforeAll(async () => {
    repo = location()
    src = join(work, `src-${name}`)
    for (let d = 0; d < 6; d++) {
      fs.mkdirSync(join(src, `d${d}`), { recursive: true })
      for (let i = 0; i < 8; i++)
        fs.writeFileSync(join(src, `d${d}`, `f${i}`), randomBytes(200_000 + i * 9000))
    }
    // Small packs (a cheap KDF for speed): a dozen packs, files of one or two chunks.
    const r = await Repository.create(openStore(repo), {
      passphrase: Buffer.from(env.PLAKAR_PASSPHRASE!),
      compression: true,
      kdf: { N: 1 << 10, r: 8, p: 1 },
      packSize: 1 << 20,
      cacheDir: null,
      ownsStore: true,
    })
    await r.close()
    expect((await cli('push', src)).status).toBe(0)
  })

  it('rebuilds the index from the packs when every index object is gone', async () => {
    for (const n of await names(repo, 'index')) await edit(repo, 'index', n)
    const dry = await cli('repair', '-dry-run')
    expect(dry.status).toBe(4) // judged against the index as it is: empty
    expect(await names(repo, 'index')).toEqual([])
    const r = await cli('repair')
    expect(r.status, r.stderr).toBe(0)
    const packs = (await names(repo, 'pack')).length
    expect(r.stdout.toString()).toMatch(new RegExp(`${packs} packs read, ${packs} newly indexed`))
    expect(r.stdout.toString()).toMatch(/every snapshot restores whole/)
    expect((await cli('check')).status).toBe(0)
  })

  it('replaces a damaged index object', async () => {
    const [first] = await names(repo, 'index')
    await edit(repo, 'index', first!, (b) => b.subarray(0, 40))
    expect((await cli('prune')).status).toBe(1) // prune refuses until the index is whole
    const r = await cli('repair')
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout.toString()).toMatch(/1 damaged index object replaced/)
    expect(await names(repo, 'index')).not.toContain(first)
    expect((await cli('check')).status).toBe(0)
  })

  it('names exactly the files a lost pack takes, and pull restores every other one', async () => {
    await edit(repo, 'pack', await dataPack(repo, env.PLAKAR_PASSPHRASE!))
    const r = await cli('repair')
    expect(r.status).toBe(4)
    const out = r.stdout.toString()
    const named = new Set([...out.matchAll(/^[0-9a-f]{8}:(\/\S*?): /gm)].map((m) => m[1]!))
    expect(named.size, out).toBeGreaterThan(0)
    expect(out).toMatch(/^snapshot [0-9a-f]{8}: data lost under \d+ paths? .*restore whole/m)

    const into = join(work, `out-${name}`)
    const pull = await cli('pull', '-path', into, 'latest')
    expect(pull.status).toBe(3)
    const failed = new Set(
      [...pull.stderr.matchAll(/^plakar: pull: (\S+): /gm)].map((m) => m[1]!.slice(into.length)),
    )
    expect([...failed].sort()).toEqual([...named].sort())
    const restored = files(join(into, src))
    let whole = 0
    // A file is lost when it, or a directory above it, is named.
    const lost = (path: string) => [...named].some((n) => path === n || path.startsWith(`${n}/`))
    for (const [rel, bytes] of files(src)) {
      const path = join(src, rel)
      if (lost(path)) continue
      expect(restored.get(rel)?.equals(bytes), path).toBe(true)
      whole++
    }
    expect(whole).toBeGreaterThan(0)
  })
})
