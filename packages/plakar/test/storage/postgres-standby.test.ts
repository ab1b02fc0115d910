/**
 * Read-only against a hot standby, the replication the seed has in mind: a repository on a
 * primary, read through its streaming replica by the CLI (ls, cat, pull, check) while a
 * push goes to the primary, and a one-line error for any write attempted on the standby.
 */
import * as fs from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createRepository } from '../cli/repository.js'
import { plakar } from '../cli/run-cli.js'
import { compareTrees, makeTree } from '../snapshot/tree-fixture.js'
import { type Replica, startReplica } from './postgres-replica.js'

// Two servers to start, then CLI runs on a busy machine.
vi.setConfig({ testTimeout: 240_000, hookTimeout: 240_000 })

let replica: Replica
let work: string
let env: Record<string, string>
let primary: string
let standby: string

beforeAll(async () => {
  work = fs.mkdtempSync(join(tmpdir(), 'plakar-standby-'))
  env = { HOME: join(work, 'home'), XDG_CACHE_HOME: join(work, 'cache'), PLAKAR_PASSPHRASE: 'standby secret' }
  fs.mkdirSync(env.HOME!)
  replica = await startReplica()
  primary = `${replica.primary}?schema=backups`
  standby = `${replica.standby}?schema=backups`
  await createRepository(primary, env.PLAKAR_PASSPHRASE!)
})

afterAll(async () => {
  await replica?.stop()
  fs.rmSync(work, { recursive: true, force: true })
})

const on = (location: string, ...args: string[]) => plakar(['on', location, ...args], { env, cwd: work })

function snapshotIds(stdout: Buffer): string[] {
  return stdout
    .toString()
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split(/ +/)[1]!)
}

describe('a repository on a PostgreSQL hot standby', () => {
  it('serves ls, cat, pull and check from the standby while pushes go to the primary', async () => {
    const first = join(work, 'first')
    makeTree(first, { wide: 50 })
    const pushed = await on(primary, 'push', first)
    expect([pushed.status, pushed.stderr]).toEqual([0, ''])
    await replica.caughtUp()

    const second = join(work, 'second')
    makeTree(second, { wide: 400 })
    const pushing = on(primary, 'push', second)
    const [ls, cat, pull, check] = await Promise.all([
      on(standby, 'ls'),
      on(standby, 'cat', `latest:${first}/hello.txt`),
      on(standby, 'pull', '-path', join(work, 'out'), 'latest'),
      on(standby, 'check'),
    ])
    expect([ls.status, ls.stderr]).toEqual([0, ''])
    expect(snapshotIds(ls.stdout)).toHaveLength(1)
    expect([cat.status, cat.stderr, cat.stdout.toString()]).toEqual([0, '', 'hello world\n'])
    expect([pull.status, pull.stderr]).toEqual([0, ''])
    expect(compareTrees(first, join(work, 'out', first))).toEqual([])
    expect([check.status, check.stderr]).toEqual([0, ''])

    const second_ = await pushing
    expect([second_.status, second_.stderr]).toEqual([0, ''])
    await replica.caughtUp()
    const both = await on(standby, 'ls')
    expect(snapshotIds(both.stdout)).toEqual(snapshotIds((await on(primary, 'ls')).stdout))
    expect(snapshotIds(both.stdout)).toHaveLength(2)
  })

  it('refuses every write on the standby with one line, and leaves the repository as it was', async () => {
    const before = (await on(standby, 'ls')).stdout.toString()
    const tree = join(work, 'third')
    makeTree(tree)
    for (const args of [['push', tree], ['rm', 'latest'], ['keep', '1'], ['prune']]) {
      const r = await on(standby, ...args)
      expect(r.status, args.join(' ')).not.toBe(0)
      expect(r.stderr, args.join(' ')).toMatch(
        /^plakar: .*read-only \(a hot standby: write to the primary\)\n$/,
      )
    }
    const created = await plakar(['on', `${replica.standby}?schema=other`, 'create'], { env, cwd: work })
    expect(created.status).not.toBe(0)
    expect(created.stderr).toMatch(/^plakar: .*read-only.*\n$/)
    expect((await on(standby, 'ls')).stdout.toString()).toBe(before)
    expect((await on(primary, 'check')).status).toBe(0)
  })
})
