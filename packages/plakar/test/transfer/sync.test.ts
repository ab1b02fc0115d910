/**
 * plakar sync between two repositories with different passphrases and compression, both
 * ways, twice: the second run copies nothing, snapshots keep their identity, and each
 * restores byte for byte on the peer. A sync killed with SIGKILL, again and again, into an fs
 * or a PostgreSQL peer, finishes when run again: every snapshot once, each exact.
 */
import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it, vi } from 'vitest'
import { createRepository } from '../cli/repository.js'
import { plakar } from '../cli/run-cli.js'
import { ensureServerUser, removeBase, serverBase, startServer, TOKENS } from '../server/daemon.js'
import { compareTrees, makeTree } from '../snapshot/tree-fixture.js'
import { schemas } from '../storage/postgres-fixture.js'
import { count, killLooped } from './kill-loop.js'

vi.setConfig({ testTimeout: 300_000, hookTimeout: 120_000 })

const pg = schemas('plakar_sync')

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
  await createRepository(join(work, 'a'), 'first')
  await createRepository(join(work, 'b'), 'second', { compression: false })
})

afterAll(async () => {
  await pg.dropAll()
  fs.rmSync(work, { recursive: true, force: true })
})

const regexQuote = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
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

  // A new snapshot of a tree the peer holds already, asked for by id: the unchanged files
  // are not read (the base is found among all the snapshots both hold, not only those asked).
  fs.writeFileSync(join(one, 'hello.txt'), 'changed\n')
  const pushed = await inA('push', one)
  expect(pushed.status).toBe(0)
  const id = /push: snapshot ([0-9a-f]{8})/.exec(pushed.stdout.toString())![1]!
  const more = await inA('sync', id, 'to', join(work, 'b'))
  expect([more.status, more.stderr]).toEqual([0, ''])
  expect(more.stdout.toString()).toMatch(/1 snapshot copied, 0 already there; (\d+ B|[\d.]+ kB) read/)

  await expectRestores(inB, one, 'b')
  await expectRestores(inA, two, 'a')
  const tagged = (await inB('ls')).stdout.toString()
  expect(tagged).toContain(one)
})

type Cli = typeof inA

/** The newest snapshot of `tree` in `repo` restores it exactly, and `repo` checks clean. */
async function expectRestores(repo: Cli, tree: string, label: string): Promise<void> {
  await expectRestored(repo, tree, label)
  const check = await repo('check')
  expect([check.status, check.stderr]).toEqual([0, ''])
}

/** The newest snapshot of `tree` in `repo` restores it exactly. */
async function expectRestored(repo: Cli, tree: string, label: string): Promise<void> {
  const out = join(work, `out-${label}-${tree.split('/').pop()}`)
  const id = lines((await repo('ls')).stdout)
    .filter((l) => l.endsWith(tree))
    .sort()
    .at(-1)!
    .split(/ +/)[1]!
  const pull = await repo('pull', '-path', out, id)
  expect([pull.status, pull.stderr]).toEqual([0, ''])
  expect(compareTrees(tree, join(out, tree))).toEqual([])
}

it('syncs with a peer behind plakar server, both ways, and the second run copies nothing', async () => {
  ensureServerUser()
  const base = serverBase()
  const server = await startServer({ repository: join(base, 'served'), dir: base })
  const env = { ...home(), PLAKAR_TOKEN: TOKENS.full, PLAKAR_PEER_PASSPHRASE: 'second' }
  const inServed = (...args: string[]) =>
    plakar(['on', server.tcp, ...args], { env: { ...env, PLAKAR_PASSPHRASE: 'second' }, cwd: work })
  try {
    // Created through the server (which owns its repository), by this process's library.
    const token = process.env.PLAKAR_TOKEN
    process.env.PLAKAR_TOKEN = TOKENS.full
    try {
      await createRepository(server.tcp, 'second')
    } finally {
      if (token === undefined) delete process.env.PLAKAR_TOKEN
      else process.env.PLAKAR_TOKEN = token
    }
    const three = join(work, 'three')
    makeTree(three)
    expect((await inServed('push', three)).status).toBe(0)
    const four = join(work, 'four')
    makeTree(four, { wide: 20 })
    expect((await inA('push', four)).status).toBe(0)
    const withServed = () =>
      plakar(['on', join(work, 'a'), 'sync', 'with', server.tcp], {
        env: { ...env, PLAKAR_PASSPHRASE: 'first' },
        cwd: work,
      })
    const first = await withServed()
    expect([first.status, first.stderr]).toEqual([0, ''])
    expect(first.stdout.toString()).toMatch(/[1-9]\d* snapshots? copied/)
    expect(lines((await inServed('ls')).stdout)).toEqual(lines((await inA('ls')).stdout))
    const again = await withServed()
    expect([again.status, again.stderr]).toEqual([0, ''])
    expect(again.stdout.toString().match(/0 snapshots copied/g)).toHaveLength(2)
    await expectRestores(inServed, four, 'served')
    await expectRestores(inA, three, 'a')
  } finally {
    await server.stop()
    removeBase(base)
  }
})

it('refuses a wrong peer passphrase with one line', async () => {
  const r = await plakar(['on', join(work, 'a'), 'sync', 'to', join(work, 'b')], {
    env: { ...home(), PLAKAR_PASSPHRASE: 'first', PLAKAR_PEER_PASSPHRASE: 'wrong' },
    cwd: work,
  })
  expect(r.status).toBe(1)
  expect(r.stderr).toMatch(
    /^plakar: sync: wrong passphrase for the peer [^\n]*PLAKAR_PEER_PASSPHRASE[^\n]*\n$/,
  )
})

it.each([
  ['fs', () => join(work, 'killed-peer')],
  ['postgres', () => pg.fresh()],
])(
  'killed with SIGKILL again and again (%s peer), then run again: every snapshot once, exact',
  async (_, to) => {
    // A source of its own, in small packs of incompressible data: a sync long enough to kill.
    const source = join(work, `killed-source-${_}`)
    const peer = to()
    await createRepository(source, 'first', { packSize: 512 << 10 })
    await createRepository(peer, 'second', { packSize: 512 << 10 })
    const env = { ...home(), PLAKAR_PASSPHRASE: 'first', PLAKAR_PEER_PASSPHRASE: 'second' }
    const inSource = (...args: string[]) => plakar(['on', source, ...args], { env, cwd: work })
    const inPeer = (...args: string[]) =>
      plakar(['on', peer, ...args], { env: { ...env, PLAKAR_PASSPHRASE: 'second' }, cwd: work })
    const trees: string[] = []
    for (const n of [1, 2, 3]) {
      const tree = join(work, `killed-${_}-${n}`)
      makeTree(tree)
      fs.writeFileSync(join(tree, 'random.bin'), randomBytes(4 << 20))
      expect((await inSource('push', tree)).status).toBe(0)
      trees.push(tree)
    }
    const snapshots = async (repo: typeof inSource) => lines((await repo('ls')).stdout)

    const killed = await killLooped({
      args: ['on', source, 'sync', 'to', peer],
      env,
      dest: peer,
      step: 6,
      done: async () => (await count(peer, ['snapshot'])) === trees.length,
    })
    expect(killed).toBeGreaterThan(0)
    const last = await inSource('sync', 'to', peer)
    expect([last.status, last.stderr]).toEqual([0, ''])
    const again = await inSource('sync', 'to', peer)
    expect([again.status, again.stderr]).toEqual([0, ''])
    expect(again.stdout.toString()).toMatch(/0 snapshots copied, 3 already there/)
    expect(await snapshots(inPeer)).toEqual(await snapshots(inSource))

    for (const tree of trees) await expectRestored(inPeer, tree, `killed-${_}`)
    const check = await inPeer('check')
    expect([check.status, check.stderr]).toEqual([0, ''])
  },
)

it('names the snapshot and path a damaged source blob cannot be copied for, and copies no snapshot', async () => {
  const source = join(work, 'damaged-source')
  const peer = join(work, 'damaged-peer')
  await createRepository(source, 'first', { packSize: 512 << 10 })
  await createRepository(peer, 'second')
  const env = { ...home(), PLAKAR_PASSPHRASE: 'first', PLAKAR_PEER_PASSPHRASE: 'second' }
  const tree = join(work, 'damaged-tree')
  fs.mkdirSync(tree)
  fs.writeFileSync(join(tree, 'random.bin'), randomBytes(3 << 20))
  expect((await plakar(['on', source, 'push', tree], { env, cwd: work })).status).toBe(0)
  // The directory's blob goes last, into the newest pack: damage every other pack.
  const packs = fs
    .readdirSync(join(source, 'packs'), { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name))
    .sort((a, b) => fs.statSync(a).mtimeMs - fs.statSync(b).mtimeMs)
  expect(packs.length).toBeGreaterThan(2)
  for (const victim of packs.slice(0, -1)) {
    fs.chmodSync(victim, 0o600)
    const bytes = fs.readFileSync(victim)
    bytes[100]! ^= 1
    fs.writeFileSync(victim, bytes)
  }
  const r = await plakar(['on', source, 'sync', 'to', peer], { env, cwd: work })
  expect(r.status).not.toBe(0)
  expect(r.stderr).toMatch(
    new RegExp(
      `^plakar: [0-9a-f]{8}:${regexQuote(tree)}/random\\.bin: blob [0-9a-f]+: [^\\n]*(damaged|authentication)[^\\n]*\\n$`,
    ),
  )
  expect(
    lines(
      (await plakar(['on', peer, 'ls'], { env: { ...env, PLAKAR_PASSPHRASE: 'second' }, cwd: work })).stdout,
    ),
  ).toEqual([''])
})
