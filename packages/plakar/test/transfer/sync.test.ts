/**
 * plakar sync between two repositories with different passphrases and compression, both
 * ways, twice: the second run copies nothing, snapshots keep their identity, and each
 * restores byte for byte on the peer.
 */
import * as fs from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it, vi } from 'vitest'
import { plakar } from '../cli/run-cli.js'
import { compareTrees, makeTree } from '../snapshot/tree-fixture.js'

vi.setConfig({ testTimeout: 300_000, hookTimeout: 120_000 })

let work: string
const home = () => ({ HOME: join(work, 'home'), XDG_CACHE_HOME: join(work, 'cache') })
const inA = (...args: string[]) =>
  plakar(['on', join(work, 'a'), ...args], {
    env: { ...home(), PLAKAR_PASSPHRASE: 'first', PLAKAR_PEER_PASSPHRASE: 'second' },
    cwd: work,
  })
const inB = (...args: string[]) =>
  plakar(['on', join(work, 'b'), ...args], { env: { ...home(), PLAKAR_PASSPHRASE: 'second' }, cwd: work })

beforeAll(async () => {
  work = fs.mkdtempSync(join(tmpdir(), 'plakar-sync-'))
  fs.mkdirSync(join(work, 'home'))
  expect((await inA('create')).status).toBe(0)
  expect((await inB('create', '-no-compression')).status).toBe(0)
})

afterAll(() => fs.rmSync(work, { recursive: true, force: true }))

const lines = (out: Buffer) => out.toString().trim().split('\n').sort()

it('copies both ways, keeps identity, copies nothing the second time, restores exactly', async () => {
  const one = join(work, 'one')
  makeTree(one, { wide: 50 })
  expect((await inA('push', '-tag', 'daily', one)).status).toBe(0)
  const two = join(work, 'two')
  makeTree(two)
  expect((await inB('push', two)).status).toBe(0)

  const first = await inA('sync', 'with', join(work, 'b'))
  expect([first.status, first.stderr]).toEqual([0, ''])
  expect(first.stdout.toString()).toMatch(/1 snapshot copied, 0 already there/)
  expect(lines((await inA('ls')).stdout)).toEqual(lines((await inB('ls')).stdout))

  const again = await inA('sync', 'with', join(work, 'b'))
  expect([again.status, again.stderr]).toEqual([0, ''])
  expect(again.stdout.toString().match(/0 snapshots copied/g)).toHaveLength(2)

  // A new snapshot of a tree the peer holds already: the unchanged files are not read.
  fs.writeFileSync(join(one, 'hello.txt'), 'changed\n')
  expect((await inA('push', one)).status).toBe(0)
  const more = await inA('sync', 'to', join(work, 'b'))
  expect([more.status, more.stderr]).toEqual([0, ''])
  expect(more.stdout.toString()).toMatch(/1 snapshot copied, 2 already there; (\d+ B|[\d.]+ kB) read/)

  for (const [repo, tree] of [
    [inB, one],
    [inA, two],
  ] as const) {
    const out = join(work, `out-${tree.split('/').pop()}`)
    const id = (await repo('ls')).stdout
      .toString()
      .trim()
      .split('\n')
      .filter((l) => l.endsWith(tree))
      .at(-1)!
      .split(/ +/)[1]!
    const pull = await repo('pull', '-path', out, id)
    expect([pull.status, pull.stderr]).toEqual([0, ''])
    expect(compareTrees(tree, join(out, tree))).toEqual([])
    const check = await repo('check')
    expect([check.status, check.stderr]).toEqual([0, ''])
  }
  const tagged = (await inB('ls')).stdout.toString()
  expect(tagged).toContain(one)
})

it('refuses a wrong peer passphrase with one line', async () => {
  const r = await plakar(['on', join(work, 'a'), 'sync', 'to', join(work, 'b')], {
    env: { ...home(), PLAKAR_PASSPHRASE: 'first', PLAKAR_PEER_PASSPHRASE: 'wrong' },
    cwd: work,
  })
  expect(r.status).toBe(1)
  expect(r.stderr).toMatch(/^plakar: [^\n]*passphrase[^\n]*\n$/)
})
