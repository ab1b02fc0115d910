/**
 * PostgreSQL restarted during a push (a throwaway cluster: restarting the machine's own
 * would break every other test using it): the push ends with one line, earlier snapshots
 * stay intact, and after the restart the next push works.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it, vi } from 'vitest'
import { createRepository } from '../cli/repository.js'
import { PLAKAR_ARGS, plakar } from '../cli/run-cli.js'
import { compareTrees, makeTree } from '../snapshot/tree-fixture.js'
import { withClient } from './postgres-fixture.js'
import { type Replica, startReplica } from './postgres-replica.js'

vi.setConfig({ testTimeout: 300_000, hookTimeout: 240_000 })

let cluster: Replica
let work: string
let env: Record<string, string>
let repo: string

beforeAll(async () => {
  work = fs.mkdtempSync(join(tmpdir(), 'plakar-pg-restart-'))
  env = { HOME: join(work, 'home'), XDG_CACHE_HOME: join(work, 'cache'), PLAKAR_PASSPHRASE: 'restart' }
  fs.mkdirSync(env.HOME!)
  cluster = await startReplica({ standby: false })
  repo = `${cluster.primary}?schema=backups`
  await createRepository(repo, env.PLAKAR_PASSPHRASE!, { packSize: 1 << 20 })
})

afterAll(async () => {
  await cluster?.stop()
  fs.rmSync(work, { recursive: true, force: true })
})

const cli = (...args: string[]) => plakar(['on', repo, ...args], { env, cwd: work })
const packs = () =>
  withClient(
    async (c) =>
      Number((await c.query("SELECT count(*) AS n FROM backups.objects WHERE kind = 'pack'")).rows[0].n),
    cluster.primary,
  )

it('a push cut by a restart of PostgreSQL ends with one line; the repository stays whole; the next push works', async () => {
  const first = join(work, 'first')
  makeTree(first)
  expect((await cli('push', first)).status).toBe(0)

  const big = join(work, 'big')
  fs.mkdirSync(big)
  for (let i = 0; i < 48; i++) fs.writeFileSync(join(big, `f${i}`), randomBytes(1 << 20))
  const before = await packs()
  const child = spawn(process.execPath, [...PLAKAR_ARGS, 'on', repo, 'push', big], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const status = new Promise<number | null>((resolve) => child.on('close', resolve))
  // Restart once the push has written a pack of its own: mid-push, whatever the machine's speed.
  let running = true
  void status.then(() => {
    running = false
  })
  while (running && (await packs()) <= before) await new Promise((r) => setTimeout(r, 20))
  expect(running).toBe(true)
  await cluster.restartPrimary()
  const code = await status
  if (code === 0) {
    // The restart fell between two requests, and the pool reconnected: then it is whole.
    expect(stderr).toBe('')
  } else {
    expect(code).toBe(1)
    expect(stderr).toMatch(/^plakar: [^\n]*postgres:\/\/[^\n]*\n$/)
  }

  const check = await cli('check')
  expect([check.status, check.stderr]).toEqual([0, ''])
  const out = join(work, 'out')
  const ls = (await cli('ls')).stdout.toString()
  const firstId = ls
    .split('\n')
    .find((l) => l.endsWith(first))!
    .split(/ +/)[1]!
  expect((await cli('pull', '-path', out, firstId)).status).toBe(0)
  expect(compareTrees(first, join(out, first))).toEqual([])

  const again = await cli('push', big)
  expect([again.status, again.stderr]).toEqual([0, ''])
  const check2 = await cli('check')
  expect([check2.status, check2.stderr]).toEqual([0, ''])
})
