/**
 * Many writers into one database: 8 plakar processes push 8 different trees into one
 * PostgreSQL repository at once; 8 complete snapshots, each restoring exactly, and the
 * repository checks clean.
 */
import * as fs from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it, vi } from 'vitest'
import { createRepository } from '../cli/repository.js'
import { plakar } from '../cli/run-cli.js'
import { compareTrees, makeTree } from '../snapshot/tree-fixture.js'
import { schemas } from './postgres-fixture.js'

// 8 CLI processes and their workers share 2 cores.
vi.setConfig({ testTimeout: 480_000, hookTimeout: 120_000 })

const WRITERS = 8
const locations = schemas('plakar_writers')
let work: string
let env: Record<string, string>
let repo: string

beforeAll(async () => {
  work = fs.mkdtempSync(join(tmpdir(), 'plakar-pg-writers-'))
  env = { HOME: join(work, 'home'), XDG_CACHE_HOME: join(work, 'cache'), PLAKAR_PASSPHRASE: 'writers' }
  fs.mkdirSync(env.HOME!)
  repo = locations.fresh()
  await createRepository(repo, env.PLAKAR_PASSPHRASE!)
})

afterAll(async () => {
  await locations.dropAll()
  fs.rmSync(work, { recursive: true, force: true })
})

const cli = (...args: string[]) => plakar(['on', repo, ...args], { env, cwd: work })

it(`${WRITERS} processes push into one database at once: ${WRITERS} complete snapshots`, async () => {
  const trees = Array.from({ length: WRITERS }, (_, i) => {
    const tree = join(work, `host-${i}`)
    makeTree(tree, { wide: 20 + i * 10 })
    fs.writeFileSync(join(tree, 'whoami'), `writer ${i}\n`)
    return tree
  })
  const pushes = await Promise.all(trees.map((tree) => cli('push', tree)))
  for (const [i, r] of pushes.entries()) expect([i, r.status, r.stderr]).toEqual([i, 0, ''])

  const ls = await cli('ls')
  expect([ls.status, ls.stderr]).toEqual([0, ''])
  const byPath = new Map<string, string>()
  for (const line of ls.stdout.toString().trim().split('\n')) {
    const m = /^\S+ {2}([0-9a-f-]{36}) +\S+ \S+ (.*)$/.exec(line)
    expect(m, line).not.toBeNull()
    byPath.set(m![2]!, m![1]!)
  }
  expect([...byPath.keys()].sort()).toEqual([...trees].sort())
  for (const tree of trees) {
    const out = join(work, 'restored', tree.slice(-6))
    const pull = await cli('pull', '-path', out, byPath.get(tree)!)
    expect([pull.status, pull.stderr]).toEqual([0, ''])
    expect(compareTrees(tree, join(out, tree))).toEqual([])
  }
  const check = await cli('check')
  expect([check.status, check.stderr]).toEqual([0, ''])
})
