/**
 * prune through the CLI, as child processes, on both backends:
 * - it gives the space back: after rm, the repository is at most 1.1x a fresh repository
 *   holding only what is left, and every snapshot left restores byte for byte;
 * - pushes beside prunes, round after round, with content that deduplicates against what
 *   each prune is removing: no snapshot ever loses data (every push's snapshot restores, and
 *   check is clean at the end);
 * - kill -9 at random moments of a prune, looped: nothing is lost, the next prune finishes;
 *   and of rm, keep and repair: every snapshot left restores, the next run finishes the job;
 * - leftovers of a killed push go once old enough, the packs of a live push never;
 * - it refuses, changing nothing, when a snapshot cannot be read, and while another prune
 *   holds the repository.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { openStore, Repository } from '@poolp/plakar'
import { afterAll, describe, expect, it } from 'vitest'
import { Rng } from '../../bench/corpus/rng.js'
import { type Corpus, ensureCorpus } from '../../bench/corpus.js'
import {
  BACKENDS,
  digestTree,
  finished,
  ok,
  PASSPHRASE,
  type PlakarEnv,
  plakar,
  restoreAndDigest,
  snapshots,
  startPlakar,
} from './harness.js'

const ROUNDS = 10
const KILLS = 6
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'plakar-prune-'))
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }))

async function packBytes(location: string): Promise<{ packs: number; bytes: number }> {
  const store = openStore(location)
  try {
    let packs = 0
    let bytes = 0
    for await (const p of store.list('pack')) {
      packs++
      bytes += p.size
    }
    return { packs, bytes }
  } finally {
    await store.close()
  }
}

/** Makes the tree new: the corpus variant, and one file of random bytes named by `tag`. */
function reshape(corpus: Corpus, tree: string, rng: Rng, i: number): string {
  corpus.setVariant(i % 2 === 0 ? 'modified' : 'original')
  for (const f of fs.readdirSync(tree)) if (f.startsWith('unique-')) fs.rmSync(path.join(tree, f))
  const fresh = new Uint8Array(256 << 10)
  rng.fill(fresh)
  fs.writeFileSync(path.join(tree, `unique-${i}.bin`), fresh)
  return digestTree(tree).digest
}

describe.each(BACKENDS)('prune ($name)', (backend) => {
  const dir = path.join(scratch, backend.name)
  const env: PlakarEnv = { home: path.join(dir, 'home'), passphrase: PASSPHRASE }
  fs.mkdirSync(env.home, { recursive: true })
  const restoreDir = path.join(dir, 'restore')
  const corpus = ensureCorpus(path.join(dir, 'corpus'), 71, 0.004)
  const tree = path.join(corpus.root, 'tree')
  const place = (name: string) => {
    fs.mkdirSync(path.join(dir, name), { recursive: true })
    return backend.location(path.join(dir, name))
  }

  it('gives the space back to within 1.1x of a fresh repository', { timeout: 240_000 }, async () => {
    const repo = place('reclaim')
    const rng = new Rng(72)
    await ok(['on', repo, 'create'], env)
    for (let i = 0; i < 4; i++) {
      reshape(corpus, tree, rng, i)
      await ok(['on', repo, 'push', tree], env)
    }
    const digest = reshape(corpus, tree, rng, 4)
    await ok(['on', repo, 'push', tree], env)
    const all = await snapshots(repo, env)
    const last = all[all.length - 1]!
    await ok(['on', repo, 'rm', ...all.slice(0, -1)], env)

    const dry = await ok(['on', repo, 'prune', '-dry-run'], env)
    expect(dry.stdout.toString()).toMatch(/would be freed \(dry run\)/)
    const grown = await packBytes(repo)
    const r = await ok(['on', repo, 'prune'], env)
    expect(r.stdout.toString()).toMatch(/^prune: .* freed in /m)
    const after = await packBytes(repo)

    const fresh = place('fresh')
    await ok(['on', fresh, 'create'], env)
    await ok(['on', fresh, 'push', tree], env)
    const baseline = await packBytes(fresh)
    expect(
      after.bytes,
      `pruned ${after.bytes} B, fresh ${baseline.bytes} B, before ${grown.bytes} B`,
    ).toBeLessThanOrEqual(baseline.bytes * 1.1)
    expect(grown.bytes).toBeGreaterThan(baseline.bytes * 1.5)
    expect((await restoreAndDigest(repo, last, [tree], env, restoreDir)).digest).toBe(digest)
    expect((await plakar(['on', repo, 'check'], env)).status).toBe(0)
    // A second prune finds nothing to do.
    const again = await ok(['on', repo, 'prune'], env)
    expect(again.stdout.toString()).toMatch(/deleted whole: 0 packs/)
    expect((await packBytes(repo)).bytes).toBe(after.bytes)
  })

  it(`never loses a snapshot's data to a prune running beside pushes (${ROUNDS} rounds)`, {
    timeout: 600_000,
  }, async () => {
    const repo = place('beside')
    const rng = new Rng(73)
    await ok(['on', repo, 'create'], env)
    const digests = new Map<string, string>()
    let pushed = await snapshots(repo, env)
    for (let round = 0; round < ROUNDS; round++) {
      const digest = reshape(corpus, tree, rng, round)
      // The push deduplicates against what the prune is removing: the variant of two rounds
      // ago, whose snapshot `keep 1` has just dropped.
      const push = finished(startPlakar(['on', repo, 'push', tree], env))
      const maint = (async () => {
        await ok(['on', repo, 'keep', '1'], env)
        return ok(['on', repo, 'prune', '-max-unused', '0'], env)
      })()
      const [p] = await Promise.all([push, maint])
      expect(p.status, `round ${round}: push: ${p.stderr}`).toBe(0)
      const now = await snapshots(repo, env)
      const added = now.filter((u) => !pushed.includes(u) && !digests.has(u))
      for (const u of added) digests.set(u, digest)
      pushed = now
      // Every snapshot still listed restores as it was taken.
      for (const u of now) {
        const want = digests.get(u)
        if (want === undefined) continue
        const got = await restoreAndDigest(repo, u, [tree], env, restoreDir)
        expect(got.digest, `round ${round}: snapshot ${u}`).toBe(want)
      }
    }
    const c = await plakar(['on', repo, 'check'], env)
    expect(c.status, c.stdout.toString()).toBe(0)
    await ok(['on', repo, 'prune'], env)
    const c2 = await plakar(['on', repo, 'check'], env)
    expect(c2.status, c2.stdout.toString()).toBe(0)
  })

  it(`survives kill -9 at ${KILLS} random moments of a prune`, { timeout: 480_000 }, async () => {
    const repo = place('kill')
    const rng = new Rng(74)
    await ok(['on', repo, 'create'], env)
    const digests = new Map<string, string>()
    for (let i = 0; i < KILLS + 2; i++) {
      const digest = reshape(corpus, tree, rng, i)
      await ok(['on', repo, 'push', tree], env)
      for (const u of await snapshots(repo, env)) if (!digests.has(u)) digests.set(u, digest)
    }
    // How long an uninterrupted prune takes (on a copy of the work: one snapshot fewer).
    let pruneMs = 0
    let interrupted = 0
    for (let i = 0; i < KILLS; i++) {
      const [oldest] = await snapshots(repo, env)
      await ok(['on', repo, 'rm', oldest!], env)
      digests.delete(oldest!)
      const started = performance.now()
      const child = startPlakar(['on', repo, 'prune', '-max-unused', '0'], env)
      const outcome = finished(child)
      const delay = i === 0 ? 60_000 : Math.round(pruneMs * (0.1 + 0.9 * rng.float()))
      const timer = setTimeout(() => child.kill('SIGKILL'), delay)
      const r = await outcome
      clearTimeout(timer)
      if (i === 0) pruneMs = performance.now() - started
      const what = `kill ${i} after ${delay} ms (a prune takes ~${Math.round(pruneMs)} ms)`
      if (r.signal === null) expect(r.status, `${what}: ${r.stderr}`).toBe(0)
      else interrupted++
      const c = await plakar(['on', repo, 'check'], env)
      expect(c.status, `${what}: check: ${c.stdout.toString()}`).toBe(0)
      const listed = await snapshots(repo, env)
      expect(listed.sort()).toEqual([...digests.keys()].sort())
      const newest = listed[listed.length - 1]!
      expect((await restoreAndDigest(repo, newest, [tree], env, restoreDir)).digest).toBe(digests.get(newest))
      // A push after the kill works, and dedups against nothing the next prune removes.
    }
    expect(interrupted, 'kills that landed before the prune ended').toBeGreaterThanOrEqual(KILLS / 2 - 1)
    await ok(['on', repo, 'prune', '-max-unused', '0'], env)
    const c = await plakar(['on', repo, 'check'], env)
    expect(c.status, c.stdout.toString()).toBe(0)
    for (const [u, d] of digests)
      expect((await restoreAndDigest(repo, u, [tree], env, restoreDir)).digest).toBe(d)
  })
})

describe.each(BACKENDS)('kill -9 during rm, keep and repair ($name)', (backend) => {
  const dir = path.join(scratch, `others-${backend.name}`)
  const env: PlakarEnv = { home: path.join(dir, 'home'), passphrase: PASSPHRASE }
  fs.mkdirSync(env.home, { recursive: true })
  const corpus = ensureCorpus(path.join(dir, 'corpus'), 76, 0.002)
  const tree = path.join(corpus.root, 'tree')

  it('leaves every remaining snapshot whole, and the next run finishes', { timeout: 300_000 }, async () => {
    const repo = backend.location(dir)
    const rng = new Rng(77)
    await ok(['on', repo, 'create'], env)
    const digests = new Map<string, string>()
    for (let i = 0; i < 9; i++) {
      const digest = reshape(corpus, tree, rng, i)
      await ok(['on', repo, 'push', tree], env)
      for (const u of await snapshots(repo, env)) if (!digests.has(u)) digests.set(u, digest)
    }
    const runs: { args: string[]; gone: () => Promise<string[]> }[] = []
    const listed = await snapshots(repo, env)
    runs.push({ args: ['rm', ...listed.slice(0, 3)], gone: async () => listed.slice(0, 3) })
    runs.push({ args: ['keep', '3'], gone: async () => (await snapshots(repo, env)).slice(0, -3) })
    runs.push({ args: ['repair'], gone: async () => [] })
    for (const run of runs) {
      const goal = await run.gone()
      for (let k = 0; k < 3; k++) {
        const delay = 150 + Math.round(rng.float() * 900)
        const child = startPlakar(['on', repo, ...run.args], env)
        const outcome = finished(child)
        const timer = setTimeout(() => child.kill('SIGKILL'), delay)
        await outcome
        clearTimeout(timer)
        const what = `${run.args[0]} killed after ${delay} ms`
        const now = await snapshots(repo, env)
        for (const u of now) expect(digests.has(u), `${what}: ${u} appeared`).toBe(true)
        const c = await plakar(['on', repo, 'check', '-fast'], env)
        expect(c.status, `${what}: check: ${c.stdout.toString()}`).toBe(0)
        const newest = now[now.length - 1]!
        expect((await restoreAndDigest(repo, newest, [tree], env, path.join(dir, 'restore'))).digest).toBe(
          digests.get(newest),
        )
      }
      // The same command again finishes the job (rm says which were already gone: status 1).
      const again = await plakar(['on', repo, ...run.args], env)
      expect([0, 1], `${run.args.join(' ')}: ${again.stderr}`).toContain(again.status)
      const now = await snapshots(repo, env)
      for (const u of goal) expect(now, `${run.args[0]}: ${u} stayed`).not.toContain(u)
    }
    const c = await plakar(['on', repo, 'check'], env)
    expect(c.status, c.stdout.toString()).toBe(0)
    for (const u of await snapshots(repo, env))
      expect((await restoreAndDigest(repo, u, [tree], env, path.join(dir, 'restore'))).digest).toBe(
        digests.get(u),
      )
  })
})

describe('prune, refusals and leftovers (fs)', () => {
  const dir = path.join(scratch, 'edge')
  const env: PlakarEnv = { home: path.join(dir, 'home'), passphrase: PASSPHRASE }
  fs.mkdirSync(env.home, { recursive: true })
  const src = path.join(dir, 'src')
  const repoDir = path.join(dir, 'repo')
  const repo = `fs://${repoDir}`

  it('removes the leftovers of a killed push once old enough, and keeps young ones', {
    timeout: 120_000,
  }, async () => {
    fs.mkdirSync(src, { recursive: true })
    const rng = new Rng(75)
    const fill = () => {
      for (let i = 0; i < 160; i++) {
        const b = new Uint8Array(256 << 10)
        rng.fill(b)
        fs.writeFileSync(path.join(src, `f${i}`), b)
      }
    }
    fill()
    await ok(['on', repo, 'create'], env)
    await ok(['on', repo, 'push', src], env)
    // A push killed once it has written a pack, long before its index (one per 32 packs).
    fill()
    const packDir = path.join(repoDir, 'packs')
    const packsNow = () =>
      fs
        .readdirSync(packDir, { recursive: true, withFileTypes: true })
        .filter((d) => d.isFile() && /^[0-9a-f]{64}$/.test(d.name))
        .map((d) => path.join(d.parentPath, d.name))
    const before = new Set(packsNow())
    const child = startPlakar(['on', repo, 'push', src], env)
    const outcome = finished(child)
    while (packsNow().length <= before.size && child.exitCode === null)
      await new Promise((r) => setTimeout(r, 5))
    child.kill('SIGKILL')
    await outcome
    const stray = packsNow().filter((p) => !before.has(p))
    expect(stray.length, 'the killed push left packs').toBeGreaterThan(0)
    expect(await snapshots(repo, env), 'the push was killed before it committed').toHaveLength(1)

    // Young: they might be a live push's, so they stay.
    const young = await ok(['on', repo, 'prune'], env)
    expect(young.stdout.toString()).toMatch(/leftovers of interrupted backups: 0 packs/)
    for (const p of stray) expect(fs.existsSync(p)).toBe(true)
    // An hour old: a killed writer's.
    const old = new Date(Date.now() - 3600_000)
    for (const p of stray) fs.utimesSync(p, old, old)
    const r = await ok(['on', repo, 'prune'], env)
    expect(r.stdout.toString()).toMatch(
      new RegExp(`leftovers of interrupted backups: ${stray.length} packs?`),
    )
    for (const p of stray) expect(fs.existsSync(p)).toBe(false)
    expect((await plakar(['on', repo, 'check'], env)).status).toBe(0)
  })

  it('refuses while another prune holds the repository, and with a bad flag', async () => {
    const r0 = await plakar(['on', repo, 'prune', '-max-unused', '200'], env)
    expect(r0.status).toBe(2)
    expect(r0.stderr.trim().split('\n')).toHaveLength(1)
    const store = openStore(repo)
    const held = await Repository.open(store, {
      passphrase: async () => Buffer.from(PASSPHRASE),
      cacheDir: null,
      ownsStore: true,
    })
    const lock = await held.maintenance().lockExclusive()
    try {
      const r = await plakar(['on', repo, 'prune'], env)
      expect(r.status).toBe(1)
      expect(r.stderr).toMatch(/locked by another prune or repair/)
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
    } finally {
      await lock.release()
      await held.close()
    }
  })

  it('refuses, changing nothing, when a snapshot cannot be read', async () => {
    const [uuid] = await snapshots(repo, env)
    const name = uuid!.replaceAll('-', '')
    const file = fs
      .readdirSync(path.join(repoDir, 'snapshots'), { recursive: true, withFileTypes: true })
      .find((d) => d.isFile() && d.name === name)!
    const p = path.join(file.parentPath, file.name)
    const bytes = fs.readFileSync(p)
    const damaged = Buffer.from(bytes)
    damaged[damaged.length - 1]! ^= 1
    fs.writeFileSync(p, damaged)
    const before = await packBytes(repo)
    const r = await plakar(['on', repo, 'prune'], env)
    expect(r.status).toBe(1)
    expect(r.stderr).toMatch(/cannot be read.*nothing was pruned/)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(await packBytes(repo)).toEqual(before)
    fs.writeFileSync(p, bytes)
  })
})
