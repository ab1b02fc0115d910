import * as fs from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { plakar, plakarOnTerminal } from './run-cli.js'

// Each test runs the CLI several times as child processes: allow for a busy machine.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 })
/**
 * plakar on a terminal (a pseudo-terminal from script(1)), as a person uses it: the
 * passphrase is asked without echo (twice at create), progress is drawn in place; and a
 * backup that cannot read a file says so and exits with status 3.
 */
let work: string
let env: Record<string, string>
beforeAll(() => {
  work = fs.mkdtempSync(join(tmpdir(), 'plakar-tty-'))
  fs.chmodSync(work, 0o755)
  fs.mkdirSync(join(work, 'src/sub'), { recursive: true })
  fs.writeFileSync(join(work, 'src/a.txt'), 'a\n')
  fs.writeFileSync(join(work, 'src/sub/b.bin'), Buffer.alloc(3 << 20, 7))
  env = { HOME: work, XDG_CACHE_HOME: join(work, 'cache') }
})
afterAll(() => fs.rmSync(work, { recursive: true, force: true }))

describe('on a terminal', () => {
  const secret = 'tty-secret-4711'
  const repo = () => join(work, 'repo')

  it('asks the passphrase twice without echo at create, then once', async () => {
    const c = await plakarOnTerminal(
      ['on', repo(), 'create'],
      [
        { after: 'passphrase: ', type: `${secret}\r` },
        { after: 'passphrase (again): ', type: `${secret}\r` },
      ],
      { env },
    )
    expect(c.screen).toContain('created repository')
    expect(c.screen).not.toContain(secret)
    expect(c.status).toBe(0)
    const p = await plakarOnTerminal(
      ['on', repo(), 'push', join(work, 'src')],
      [{ after: 'passphrase: ', type: `${secret}\r` }],
      {
        env,
      },
    )
    expect(p.status).toBe(0)
    expect(p.screen).not.toContain(secret)
    // The progress line is drawn in place (carriage return, clear line), then the summary.
    expect(p.screen).toMatch(/\r\x1b\[Kpush: \d+ files, /)
    expect(p.screen).toMatch(/push: snapshot [0-9a-f]{8}: 2 files/)
    const r = await plakarOnTerminal(
      ['on', repo(), 'pull', '-path', join(work, 'out'), '-rebase', 'latest'],
      [{ after: 'passphrase: ', type: `${secret}\r` }],
      { env },
    )
    expect(r.status).toBe(0)
    expect(r.screen).toMatch(/\r\x1b\[Kpull: \d+ files, /)
    expect(fs.readFileSync(join(work, 'out/src/sub/b.bin')).equals(Buffer.alloc(3 << 20, 7))).toBe(true)
  })

  it('refuses two different passphrases at create', async () => {
    const c = await plakarOnTerminal(
      ['on', join(work, 'repo2'), 'create'],
      [
        { after: 'passphrase: ', type: 'one\r' },
        { after: 'passphrase (again): ', type: 'two\r' },
      ],
      { env },
    )
    expect(c.status).toBe(1)
    expect(c.screen).toContain('plakar: passphrases do not match')
    expect(fs.existsSync(join(work, 'repo2'))).toBe(false)
  })

  it('shows no progress when not on a terminal', async () => {
    const r = await plakar(['on', repo(), 'push', join(work, 'src')], {
      env: { ...env, PLAKAR_PASSPHRASE: secret },
    })
    expect(r.status).toBe(0)
    expect(r.stderr).toBe('')
    expect(r.stdout.toString()).toMatch(/^push: snapshot [0-9a-f]{8}: 2 files \(\d unchanged\), .*\n$/)
  })
})

describe('a file that cannot be read', () => {
  it('is reported and recorded, the backup goes on, and the exit status is 3', async () => {
    // Root reads everything: run plakar as nobody then, on files nobody may not read.
    const asRoot = process.getuid?.() === 0
    const as = asRoot ? { uid: 65534, gid: 65534 } : {}
    const base = join(work, 'partial')
    fs.mkdirSync(join(base, 'src'), { recursive: true })
    fs.writeFileSync(join(base, 'src/readable'), 'yes\n', { mode: 0o644 })
    fs.writeFileSync(join(base, 'src/secret'), 'no\n', { mode: 0o000 })
    fs.mkdirSync(join(base, 'src/closed-dir'), { mode: 0o000 })
    fs.mkdirSync(join(base, 'home'))
    if (asRoot) fs.chownSync(join(base, 'home'), 65534, 65534)
    const penv = { HOME: join(base, 'home') }
    const repo = join(base, 'home/repo')
    expect((await plakar(['on', repo, 'create', '-no-encryption'], { env: penv, ...as })).status).toBe(0)
    const r = await plakar(['on', repo, 'push', join(base, 'src')], { env: penv, ...as })
    expect(r.status).toBe(3)
    expect(r.stderr).toContain(`plakar: push: ${join(base, 'src/secret')}: `)
    expect(r.stderr).toContain(`plakar: push: ${join(base, 'src/closed-dir')}: permission denied`)
    expect(r.stdout.toString()).toMatch(/2 errors \(partial\)/)
    const info = await plakar(['on', repo, 'info', 'latest'], { env: penv, ...as })
    expect(info.stdout.toString()).toMatch(/^Errors: +2$/m)
    const ls = await plakar(['on', repo, 'ls', `latest:${join(base, 'src')}`], { env: penv, ...as })
    expect(ls.stdout.toString()).toMatch(/ readable\n/)
    expect(ls.stdout.toString()).toMatch(/ closed-dir\n/)
    expect(ls.stdout.toString()).not.toMatch(/ secret\n/)
    expect((await plakar(['help', 'push'])).stdout.toString()).toContain('3  partial')
  })
})
