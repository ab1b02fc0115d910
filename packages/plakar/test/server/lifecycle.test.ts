/**
 * The server under load and under loss: 32 clients pushing at once, and kill -9 of each of
 * its processes in the middle of a push. The client must fail with one line, the daemon
 * must go down whole, and the repository, served again, must check clean.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { digestTree } from '../../bench/corpus.js'
import { plakar } from '../cli/run-cli.js'
import { ensureServerUser, removeBase, serverBase, startServer, TOKENS } from './daemon.js'

let base = ''
const env = () => ({
  PLAKAR_TOKEN: TOKENS.full,
  PLAKAR_PASSPHRASE: 'lifecycle passphrase',
  HOME: base,
  XDG_CACHE_HOME: join(base, 'cache'),
})

async function ok(args: string[]) {
  const r = await plakar(args, { env: env(), cwd: base })
  if (r.status !== 0) throw new Error(`plakar ${args.join(' ')}: ${r.status}: ${r.stderr}`)
  return r
}

beforeAll(() => {
  ensureServerUser()
  base = serverBase()
})
afterAll(() => removeBase(base))

function childPids(parent: number): Map<string, number> {
  const out = new Map<string, number>()
  const kids = readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
  for (const pid of kids.map(Number)) {
    out.set(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!.trim().replace('plakar: ', ''), pid)
  }
  return out
}

describe('plakar server lifecycle', () => {
  it('32 clients pushing different trees at once: 32 snapshots, each restores exactly', async () => {
    const server = await startServer({ repository: join(base, 'many'), dir: base })
    try {
      await ok(['on', server.tcp, 'create'])
      const trees = Array.from({ length: 32 }, (_, i) => {
        const root = join(base, `client-${i}`)
        mkdirSync(join(root, 'd'), { recursive: true })
        for (let f = 0; f < 5; f++)
          writeFileSync(join(root, 'd', `f${f}`), `client ${i} file ${f}\n`.repeat(200 * f + 1))
        writeFileSync(join(root, 'random.bin'), randomBytes(200_000))
        return root
      })
      const urls = [server.tcp, server.unix]
      await Promise.all(trees.map((t, i) => ok(['on', urls[i % 2]!, 'push', t])))
      const ls = (await ok(['on', server.tcp, 'ls'])).stdout.toString()
      const ids = new Map<string, string>()
      for (const line of ls.trim().split('\n')) {
        const m = /([0-9a-f-]{36})\s+.*\s(\/\S+)$/.exec(line)
        if (m) ids.set(m[2]!, m[1]!)
      }
      expect(ids.size).toBe(32)
      for (const tree of trees) {
        const into = join(base, `restore-${tree.split('-').pop()}`)
        mkdirSync(into)
        await ok(['on', server.unix, 'pull', '-path', into, ids.get(tree)!])
        expect(digestTree(join(into, tree)).digest, tree).toBe(digestTree(tree).digest)
      }
    } finally {
      await server.stop()
    }
  }, 240_000)

  for (const victim of ['session1', 'storage', 'listener', 'parent']) {
    it(`kill -9 of ${victim} during a push: one line from the client, the daemon down, the repository coherent`, async () => {
      const repository = join(base, `kill-${victim}`)
      const server = await startServer({ repository, dir: base })
      await ok(['on', server.tcp, 'create'])
      const tree = join(base, `kill-tree-${victim}`)
      mkdirSync(tree, { recursive: true })
      for (let i = 0; i < 12; i++) writeFileSync(join(tree, `blob${i}`), randomBytes(4 << 20))
      const push = plakar(['on', server.tcp, 'push', tree], { env: env(), cwd: base })
      // Once the first pack is stored, the push is in the middle of its work.
      const packs = join(repository, 'packs')
      const started = Date.now()
      const hasPack = () =>
        existsSync(packs) &&
        readdirSync(packs).some((d) => readdirSync(join(packs, d)).some((f) => !f.startsWith('.')))
      while (!hasPack() && Date.now() - started < 60_000) await new Promise((r) => setTimeout(r, 20))
      expect(hasPack()).toBe(true)
      const children = [...childPids(server.process.pid!).values()]
      const pid = victim === 'parent' ? server.process.pid! : childPids(server.process.pid!).get(victim)!
      process.kill(pid, 'SIGKILL')
      const r = await push
      expect(r.status).not.toBe(0)
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1)
      expect(r.stderr).toMatch(/^plakar: plakar:\/\/127\.0\.0\.1:\d+: /)
      // The daemon goes down whole: the parent stops the rest, or they die with it (a dead
      // child may linger as a zombie of whoever adopted it).
      await server.exited
      const dead = (child: number) => {
        try {
          return /State:\s+Z/.test(readFileSync(`/proc/${child}/status`, 'utf8'))
        } catch {
          return true
        }
      }
      const deadline = Date.now() + 30_000
      while (!children.every(dead) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
      expect(children.filter((c) => !dead(c))).toEqual([])
      // Served again, the repository checks clean: at most a pack no index names.
      const again = await startServer({ repository, dir: base })
      try {
        const check = await plakar(['on', again.tcp, 'check'], { env: env(), cwd: base })
        expect(check.status, check.stdout.toString() + check.stderr).toBe(0)
        expect(check.stdout.toString()).toMatch(/no damage/)
      } finally {
        await again.stop()
      }
    }, 120_000)
  }
})
