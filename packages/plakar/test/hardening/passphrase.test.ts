/**
 * A wrong passphrase is reported as a wrong passphrase, at once, on both backends: one
 * clear line and a non-zero exit, never a stack trace, a decryption error or a restore.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BACKENDS, corpusTree, ok, PASSPHRASE, type PlakarEnv, plakar, snapshots } from './harness.js'

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'plakar-passphrase-'))
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }))

let tree: string
beforeAll(() => {
  tree = corpusTree(path.join(scratch, 'corpus'), 41, 0.002)
})

describe.each(BACKENDS)('wrong passphrase ($name)', (backend) => {
  const dir = path.join(scratch, backend.name)
  const repo = backend.location(dir)
  const env: PlakarEnv = { home: path.join(dir, 'home'), passphrase: PASSPHRASE }
  const wrong: PlakarEnv = { ...env, passphrase: 'not the passphrase' }

  beforeAll(async () => {
    fs.mkdirSync(env.home, { recursive: true })
    await ok(['on', repo, 'create'], env)
    await ok(['on', repo, 'push', tree], env)
  })

  it.each([['ls'], ['pull', '-path', 'RESTORE', 'latest']])(
    'plakar %s says the passphrase is wrong',
    async (...args) => {
      const target = path.join(dir, 'restore')
      const argv = args.map((a) => (a === 'RESTORE' ? target : a === '.' ? tree : a))
      const r = await plakar(['on', repo, ...argv], wrong)
      expect(r.status).not.toBe(0)
      expect(r.status).not.toBeNull()
      const lines = r.stderr.trim().split('\n')
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatch(/passphrase/i)
      expect(r.stderr).not.toMatch(/^\s+at /m)
      expect(r.stdout.length).toBe(0)
      expect(fs.existsSync(target) ? fs.readdirSync(target) : []).toEqual([])
    },
  )

  it('still opens with the right passphrase, and nothing was added', async () => {
    expect(await snapshots(repo, env)).toHaveLength(1)
  })
})
