import { chmodSync, chownSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DeclarationError, isPrivsepError, Privsep } from '@poolp/privsep'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { bundled } from './helpers/bundle.js'
import { runDaemon } from './helpers/daemon.js'
import { ensureSmtpdSystem, isRoot } from './helpers/system.js'

// Each test starts real daemons: on a loaded machine (CI runs every package at once) a
// start can take seconds, so allow more than the suite's default 30 s.
vi.setConfig({ testTimeout: 90_000, hookTimeout: 90_000 })

const noop = () => {}

async function problemsOf(declare: (d: Privsep) => void): Promise<readonly string[]> {
  // role undefined: this Privsep is a parent, whatever the test runner's argv says. Every
  // declaration here is bad, so start() rejects before it could spawn anything.
  const daemon = new Privsep(undefined)
  declare(daemon)
  const err = await daemon.start({ exitOnError: false }).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(DeclarationError)
  expect(isPrivsepError(err, 'PRIVSEP_DECLARATION')).toBe(true)
  return (err as DeclarationError).problems
}

describe('declaration checks, in process', () => {
  it('reports an unknown peer', async () => {
    expect(
      await problemsOf((d) => {
        d.parent('parent', noop)
        d.child('foobar', noop).talksTo('barbz')
      }),
    ).toEqual(['child "foobar" talks to "barbz", which is not declared'])
  })

  it('reports every problem, one line each', async () => {
    const problems = await problemsOf((d) => {
      d.child('a', noop).talksTo('a', 'nowhere')
      d.child('b', undefined as unknown as () => void)
    })
    expect(problems).toEqual([
      'no parent process is declared: call parent(name, main)',
      'child "a" talks to itself',
      'child "a" talks to "nowhere", which is not declared',
      'child "b" has no entry point (main must be a function)',
    ])
    for (const line of problems) expect(line).not.toContain('\n')
  })

  it('fixes declarations once started', async () => {
    const d = new Privsep(undefined)
    d.parent('parent', noop).talksTo('x')
    await d.start({ exitOnError: false }).catch(() => {})
    expect(() => d.child('late', noop)).toThrow(/after start\(\)/)
    await expect(d.start({ exitOnError: false })).rejects.toThrow(/already called/)
  })

  it('refuses messages to a process that is not a declared peer', () => {
    const d = new Privsep(undefined)
    d.parent('parent', noop)
    d.child('foobar', noop).talksTo('barbaz')
    d.child('barbaz', noop)
    d.child('lonely', noop)
    expect(() => d.getProcess('lonely').message(1)).toThrow('process "parent" has no channel to "lonely"')
    expect(() => d.getProcess('nobody')).toThrow('no process named "nobody" is declared')
  })
})

interface Case {
  readonly args: string
  readonly line: string | RegExp
  readonly env?: NodeJS.ProcessEnv
  readonly asNobody?: boolean
}

describe.skipIf(!isRoot)('each bad declaration: one line on stderr, exit status 1, nothing started', () => {
  let markers: string
  let scratch: string
  beforeAll(() => {
    ensureSmtpdSystem()
    markers = mkdtempSync(join(tmpdir(), 'privsep-markers-'))
    chmodSync(markers, 0o777)
    // Under /run: every directory above a chroot must be root-owned and not world-writable.
    scratch = mkdtempSync('/run/privsep-test-')
    chmodSync(scratch, 0o755)
  })
  afterAll(() => {
    rmSync(markers, { recursive: true, force: true })
    rmSync(scratch, { recursive: true, force: true })
  })

  const cases: Case[] = [
    { args: 'unknown-peer', line: 'child "foobar" talks to "barbz", which is not declared' },
    { args: 'no-entry-point', line: 'child "lonely" has no entry point (main must be a function)' },
    { args: 'no-such-user', line: 'child "foobar": user "_nosuchuser" does not exist' },
    {
      args: 'username-not-root',
      line: 'privilege separation requires root privileges (running as uid 65534)',
      asNobody: true,
    },
    {
      args: 'chroot',
      env: { CHROOT: '/nonexistent/jail' },
      line: 'child "foobar": chroot directory "/nonexistent/jail": "/nonexistent" does not exist',
    },
    {
      args: 'chroot',
      env: { CHROOT: 'relative/jail' },
      line: /chroot directory "relative\/jail" is not an absolute path$/,
    },
    {
      args: 'chroot-without-user',
      line: 'child "foobar" has a chrootPath but no username: a process running as root can leave a chroot',
    },
    {
      args: 'parent-with-user',
      line: 'parent "parent" keeps its privileges: it cannot have a username or a chrootPath',
    },
    { args: 'twice', line: 'child "barbaz" is declared 2 times' },
    { args: 'self', line: 'child "foobar" talks to itself' },
    { args: 'no-parent', line: 'no parent process is declared: call parent(name, main)' },
    { args: 'bad-name', line: /^child "foo bar": a process name is 1 to 64 letters/ },
  ]

  for (const c of cases) {
    it(`${c.args}${c.env?.CHROOT ? ` (${c.env.CHROOT})` : ''}`, async () => {
      const daemon = runDaemon(await bundled('bad-declaration'), [c.args], {
        env: { MARKER_DIR: markers, ...c.env },
        ...(c.asNobody ? { uid: 65534, gid: 65534 } : {}),
      })
      const { code } = await daemon.exited
      expect(code).toBe(1)
      expect(daemon.lines).toHaveLength(1)
      const line = daemon.lines[0]!
      expect(line.startsWith('bad-declaration: ')).toBe(true)
      const text = line.slice('bad-declaration: '.length)
      if (typeof c.line === 'string') expect(text).toBe(c.line)
      else expect(text).toMatch(c.line)
      expect(readdirSync(markers)).toEqual([])
    })
  }

  it('a chroot not owned by root, or writable by group or others', async () => {
    const jail = join(scratch, 'jail')
    const expectLine = async (line: string) => {
      const daemon = runDaemon(await bundled('bad-declaration'), ['chroot'], {
        env: { MARKER_DIR: markers, CHROOT: jail },
      })
      expect((await daemon.exited).code).toBe(1)
      expect(daemon.lines).toEqual([`bad-declaration: child "foobar": ${line}`])
    }
    rmSync(jail, { recursive: true, force: true })
    const { mkdirSync } = await import('node:fs')
    mkdirSync(jail, { mode: 0o755 })
    chownSync(jail, 65534, 65534)
    await expectLine(`chroot directory "${jail}" is not owned by root`)
    chownSync(jail, 0, 0)
    chmodSync(jail, 0o775)
    await expectLine(`chroot directory "${jail}" is writable by group or others`)
    chmodSync(jail, 0o755)
    chmodSync(scratch, 0o757)
    await expectLine(`chroot directory "${jail}": "${scratch}" is writable by group or others`)
    chmodSync(scratch, 0o755)
    expect(readdirSync(markers)).toEqual([])
  })

  it('the same program with a good declaration does start (the markers can appear)', async () => {
    const daemon = runDaemon(await bundled('bad-declaration'), ['valid'], { env: { MARKER_DIR: markers } })
    await expect.poll(() => readdirSync(markers).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(5)
    daemon.proc.kill('SIGTERM')
    expect((await daemon.exited).code).toBe(0)
    for (const f of readdirSync(markers)) rmSync(join(markers, f))
  })
})
