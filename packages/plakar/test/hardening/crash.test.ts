/**
 * Crash safety: `kill -9` at random moments of a push, looped, on both backends. After each
 * kill every earlier snapshot is still listed and restores byte for byte, no half snapshot
 * is visible (a snapshot that appears is the complete tree pushed), and the next push works
 * with the cache the dead process left behind.
 *
 * The moments are drawn from a seeded generator over the length of an uninterrupted push,
 * so a failure names the kill (iteration and delay) and replays the same way.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { Rng } from '../../bench/corpus/rng.js'
import { ensureCorpus } from '../../bench/corpus.js'
import {
  BACKENDS,
  corpusTree,
  digestTree,
  finished,
  ok,
  PASSPHRASE,
  type PlakarEnv,
  restoreAndDigest,
  snapshots,
  startPlakar,
} from './harness.js'

const KILLS = 6
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'plakar-crash-'))
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }))

describe.each(BACKENDS)('kill -9 during push ($name)', (backend) => {
  const dir = path.join(scratch, backend.name)
  const repo = backend.location(dir)
  const env: PlakarEnv = { home: path.join(dir, 'home'), passphrase: PASSPHRASE }
  const restoreDir = path.join(dir, 'restore')

  it(`keeps earlier snapshots intact across ${KILLS} kills`, { timeout: 180_000 }, async () => {
    fs.mkdirSync(env.home, { recursive: true })
    const small = corpusTree(path.join(dir, 'small'), 61, 0.002)
    const corpus = ensureCorpus(path.join(dir, 'big'), 62, 0.005)
    const tree = path.join(corpus.root, 'tree')
    const sources = [small, tree]
    /** Every snapshot known complete, with the digest of the tree it was taken of. */
    const known = new Map<string, string>()
    const verify = async (uuid: string, digest: string, what: string) => {
      const got = await restoreAndDigest(repo, uuid, sources, env, restoreDir)
      expect(got.digest, `${what}: snapshot ${uuid} of ${got.source}`).toBe(digest)
    }
    const newSnapshots = async () => (await snapshots(repo, env)).filter((u) => !known.has(u))

    await ok(['on', repo, 'create'], env)
    await ok(['on', repo, 'push', small], env)
    const [first] = await newSnapshots()
    known.set(first!, digestTree(small).digest)

    const started = performance.now()
    await ok(['on', repo, 'push', tree], env)
    const pushMs = performance.now() - started
    const [full] = await newSnapshots()
    known.set(full!, digestTree(tree).digest)

    const rng = new Rng(63)
    let interrupted = 0
    for (let i = 0; i < KILLS; i++) {
      // New content each time, so that the push has chunks to write even with a warm cache.
      corpus.setVariant(i % 2 === 0 ? 'modified' : 'original')
      fs.rmSync(path.join(tree, `kill-${i - 1}.bin`), { force: true })
      const fresh = new Uint8Array(1 << 20)
      rng.fill(fresh)
      fs.writeFileSync(path.join(tree, `kill-${i}.bin`), fresh)
      const digest = digestTree(tree).digest

      const delay = Math.round(pushMs * (0.05 + rng.float()))
      const what = `kill ${i + 1} after ${delay} ms (push takes ~${Math.round(pushMs)} ms)`
      const child = startPlakar(['on', repo, 'push', tree], env)
      const outcome = finished(child)
      const timer = setTimeout(() => child.kill('SIGKILL'), delay)
      const r = await outcome
      clearTimeout(timer)
      if (r.signal === null) expect(r.status, `${what}: push finished first: ${r.stderr}`).toBe(0)
      else interrupted++

      const listed = await snapshots(repo, env)
      for (const uuid of known.keys()) expect(listed, `${what}: snapshot ${uuid} vanished`).toContain(uuid)
      const added = listed.filter((u) => !known.has(u))
      expect(added.length, `${what}: more than one new snapshot`).toBeLessThanOrEqual(1)
      if (r.signal === null) expect(added, `${what}: a finished push left no snapshot`).toHaveLength(1)
      if (added[0] !== undefined) {
        await verify(added[0], digest, `${what}: a snapshot that appeared`)
        known.set(added[0], digest)
      }
      if (i % 5 === 4) await verify(first!, known.get(first!)!, `${what}: the first snapshot`)
    }

    // Otherwise the loop proved nothing: every push ended before its kill.
    expect(interrupted).toBeGreaterThanOrEqual(KILLS / 2)

    await ok(['on', repo, 'push', tree], env)
    const [last] = await newSnapshots()
    expect(last, 'the push after the kills made a snapshot').toBeDefined()
    known.set(last!, digestTree(tree).digest)
    // Snapshots that appeared were verified then; after every kill, the oldest ones and the newest
    // must still restore (they share most blobs with all the others).
    const listed = await snapshots(repo, env)
    for (const uuid of known.keys()) expect(listed, `snapshot ${uuid} vanished`).toContain(uuid)
    for (const uuid of [first!, full!, last!]) await verify(uuid, known.get(uuid)!, 'after all kills')
  })
})
