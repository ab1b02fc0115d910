import { COMMANDS, main, type RepositoryProvider } from '@poolp/plakar/cli'
import { describe, expect, it } from 'vitest'
import { renderHelp } from '../../src/commands/command.js'
import { humanSize, modeString, snapshotLine } from '../../src/commands/format.js'
import { ProgressLine } from '../../src/commands/progress.js'
import { captureIo } from './capture.js'

/** The parser's tests need no repository: every case here fails or ends before opening one. */
const nowhere: RepositoryProvider = {
  create: () => Promise.reject(new Error('not reached')),
  open: () => Promise.reject(new Error('not reached')),
  store: () => {
    throw new Error('not reached')
  },
}

async function run(...argv: string[]) {
  const c = captureIo({ HOME: '/nonexistent' }, '/')
  const status = await main(argv, c.io, nowhere)
  return { status, out: c.stdout().toString(), err: c.stderr() }
}

describe('the command line', () => {
  it.each([
    [[], 'no command given'],
    [['frobnicate'], 'unknown command frobnicate'],
    [['-bogus', 'ls'], 'unknown flag -bogus'],
    [['-cpu', 'zero', 'ls'], '-cpu zero: expected a number from 1'],
    [['-cpu'], 'flag -cpu needs a value'],
    [['on'], 'on: expected a REPOSITORY'],
    [['on', '/a', 'at', '/b', 'ls'], 'at: repository given twice'],
    [['push'], 'push: no PATH to back up'],
    [['push', '-tag'], 'push: flag -tag needs a value'],
    [['pull'], 'pull: no SNAPSHOT to restore'],
    [['cat', 'abc'], 'cat: abc: expected SNAPSHOT:PATH'],
    [['ls', 'a', 'b'], 'ls: unexpected argument b'],
    [['ls', '-recursive'], 'ls: -recursive needs a SNAPSHOT'],
    [['diff', 'a'], 'diff: expected SNAPSHOT1 SNAPSHOT2 [PATH]'],
    [['find'], 'find: expected one NAME'],
    [['create', '-no-encryption=yes'], 'create: flag -no-encryption takes no value'],
    [['help', 'nope'], 'help: unknown command nope'],
  ])('%j is a usage error: one line, exit 2', async (argv, message) => {
    const r = await run(...argv)
    expect(r.status).toBe(2)
    expect(r.err).toMatch(
      new RegExp(
        `^plakar: ${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(see "plakar help[ a-z]*"\\)\n$`,
      ),
    )
    expect(r.err).not.toMatch(/\bat .*\.ts:\d+/)
    expect(r.out).toBe('')
  })

  it('prints help for every command, with its exit statuses', async () => {
    for (const c of [...COMMANDS.map((c) => c.name), 'help']) {
      const r = await run('help', c)
      expect(r.status).toBe(0)
      expect(r.out).toContain(`usage: plakar [on REPOSITORY] ${c}`)
      expect(r.out).toContain('EXIT STATUS')
      expect(r.out).toContain('2  usage error')
      const h = await run(c, '-h')
      expect(h.out).toBe(r.out)
    }
    expect((await run('help', 'push')).out).toContain('3  partial')
    expect((await run('help', 'backup')).out).toContain('Also called: backup')
    const all = await run('help')
    for (const c of COMMANDS) expect(all.out).toContain(`  ${c.name}`)
    expect(all.out).toContain('EXIT STATUS')
    expect((await run('-h')).out).toBe(all.out)
  })

  it('prints the version', async () => {
    const r = await run('version')
    expect(r.status).toBe(0)
    expect(r.out).toMatch(/^plakar \d+\.\d+\.\d+ \(@poolp\/plakar, snapshot format 2, node v\d+/)
  })

  it('renders help with aligned flags', () => {
    const push = COMMANDS.find((c) => c.name === 'push')!
    expect(renderHelp(push)).toContain('  -tag TAG          tag the snapshot (repeatable)')
  })
})

describe('formatting', () => {
  it('prints sizes as the article does', () => {
    expect(humanSize(0)).toBe('0 B')
    expect(humanSize(999)).toBe('999 B')
    expect(humanSize(4200)).toBe('4.2 kB')
    expect(humanSize(11_000_000)).toBe('11 MB')
    expect(humanSize(10_960_000)).toBe('11 MB')
  })

  it('prints a snapshot line as the article does', () => {
    const line = snapshotLine({
      time: '2021-11-27T00:12:04.512Z',
      uuid: '99e53a9c-e503-4c32-8622-924bf966f15b',
      size: 11_000_000,
      paths: ['/bin'],
    } as never)
    expect(line).toBe('2021-11-27T00:12:04Z  99e53a9c-e503-4c32-8622-924bf966f15b     11 MB /bin')
  })

  it('prints modes as ls -l does', () => {
    const e = (kind: string, mode: number) => ({ kind, mode }) as never
    expect(modeString(e('dir', 0o755))).toBe('drwxr-xr-x')
    expect(modeString(e('file', 0o4755))).toBe('-rwsr-xr-x')
    expect(modeString(e('file', 0o2644))).toBe('-rw-r-Sr--')
    expect(modeString(e('dir', 0o1777))).toBe('drwxrwxrwt')
    expect(modeString(e('symlink', 0o777))).toBe('lrwxrwxrwx')
  })
})

describe('the progress line', () => {
  it('shows files, bytes, rate, percentage and ETA', () => {
    const counters = { files: 12, bytes: 50_000_000, errors: 1 }
    const line = new ProgressLine({ write: () => true }, 'pull', counters, () => 200_000_000)
    const now = Date.now() + 10_000
    expect(line.render(now)).toMatch(/^pull: 12 files, 50 MB, 5\.0 MB\/s, 25%, ETA 0:(29|30), 1 errors$/)
  })

  it('draws nothing when the stream is not a terminal', () => {
    const written: string[] = []
    const line = new ProgressLine(
      { write: (t: string) => written.push(t) },
      'push',
      { files: 0, bytes: 0, errors: 0 },
      () => undefined,
    )
    line.start()
    line.stop()
    expect(written).toEqual([])
  })
})

describe('the size scan behind the ETA of a first push', () => {
  it('adds up the regular files below the paths, off the main thread', async () => {
    const { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, rmSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const { SizeScan } = await import('../../src/commands/size-scan.js')
    const dir = mkdtempSync(join(tmpdir(), 'plakar-scan-'))
    mkdirSync(join(dir, 'a/b'), { recursive: true })
    writeFileSync(join(dir, 'a/one'), Buffer.alloc(1000))
    writeFileSync(join(dir, 'a/b/two'), Buffer.alloc(234))
    symlinkSync('/etc/passwd', join(dir, 'link'))
    const scan = new SizeScan([dir, join(dir, 'missing')])
    while (scan.total === undefined) await new Promise((r) => setTimeout(r, 10))
    expect(scan.total).toBe(1234)
    scan.stop()
    rmSync(dir, { recursive: true })
  })
})
