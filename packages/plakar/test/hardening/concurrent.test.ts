/**
 * Several writers: pushes into the same repository at the same moment all succeed with
 * complete snapshots, on both backends, whether their content differs (two trees) or is
 * the same (the same tree twice: both writers race to store identical blobs).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
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

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'plakar-concurrent-'))
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }))

let trees: string[]
beforeAll(() => {
  trees = [corpusTree(path.join(scratch, 'a'), 51, 0.004), corpusTree(path.join(scratch, 'b'), 52, 0.004)]
})

/** Pushes every tree at once, each process with its own cache directory (as two users would). */
async function pushAll(repo: string, sources: readonly string[], dir: string): Promise<void> {
  const children = sources.map((source, i) => {
    const env: PlakarEnv = { home: path.join(dir, `home-${i}`), passphrase: PASSPHRASE }
    fs.mkdirSync(env.home, { recursive: true })
    return startPlakar(['on', repo, 'push', source], env)
  })
  const outcomes = await Promise.all(children.map(finished))
  outcomes.forEach((r, i) => {
    expect(r.status, `push ${sources[i]}: ${r.stderr}`).toBe(0)
  })
}

describe.each(BACKENDS)('concurrent pushes ($name)', (backend) => {
  const dir = path.join(scratch, backend.name)
  const repo = backend.location(dir)
  const env: PlakarEnv = { home: path.join(dir, 'home'), passphrase: PASSPHRASE }

  it('all succeed and every snapshot restores byte for byte', { timeout: 120_000 }, async () => {
    fs.mkdirSync(env.home, { recursive: true })
    await ok(['on', repo, 'create'], env)
    const [a, b] = trees as [string, string]
    await pushAll(repo, [a, b], dir)
    await pushAll(repo, [a, a], dir)

    const listed = await snapshots(repo, env)
    expect(listed).toHaveLength(4)
    const expected = new Map(trees.map((t) => [t, digestTree(t).digest]))
    const seen = new Map<string, number>()
    for (const uuid of listed) {
      const got = await restoreAndDigest(repo, uuid, trees, env, path.join(dir, 'restore'))
      expect(got.digest, `snapshot ${uuid} of ${got.source}`).toBe(expected.get(got.source))
      seen.set(got.source, (seen.get(got.source) ?? 0) + 1)
    }
    expect(seen.get(a)).toBe(3)
    expect(seen.get(b)).toBe(1)
  })
})
