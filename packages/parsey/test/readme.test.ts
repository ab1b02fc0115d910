import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/** The README's examples, run and typechecked as written. */
const pkg = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const readme = fs.readFileSync(path.join(pkg, 'README.md'), 'utf8')
const blocks = [...readme.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, code: m[2]! }))
const ts = blocks.filter((b) => b.lang === 'ts').map((b) => b.code)
const plakarConf = blocks.find((b) => b.code.startsWith('# /etc/plakar/plakar.conf'))!.code

let dir: string
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parsey-readme-'))
  fs.mkdirSync(path.join(dir, 'node_modules', '@poolp'), { recursive: true })
  fs.symlinkSync(pkg, path.join(dir, 'node_modules', '@poolp', 'parsey'))
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }))
})
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

// The temporary project has no node_modules of its own but parsey: load the workspace's tsx by path.
const tsx = pathToFileURL(path.join(pkg, '..', '..', 'node_modules', 'tsx', 'dist', 'loader.mjs')).href

function runTs(file: string, env: Record<string, string> = {}): string {
  return execFileSync(process.execPath, ['--conditions=@poolp/source', '--import', tsx, file], {
    cwd: dir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  })
}

describe('README', () => {
  it('has the two examples', () => {
    expect(ts).toHaveLength(2)
  })

  it('the listen/match example prints what it says', () => {
    fs.writeFileSync(path.join(dir, 'example.ts'), ts[0]!)
    const out = runTs('example.ts')
    expect(out).toContain("{ listen: [ 'fxp0', 'fxp0' ], match: [ 'fxp0', 'fxp0' ] }")
    expect(out).toContain(
      "example.conf:1:10: expected STRING after 'on', found end of line\nlisten on\n         ^",
    )
  })

  it('the plakar example reads its configuration, secret and typed', () => {
    const conf = path.join(dir, 'plakar.conf')
    fs.writeFileSync(conf, plakarConf, { mode: 0o600 })
    const code = `${ts[1]!.replace("'/etc/plakar/plakar.conf'", JSON.stringify(conf))}
console.log(JSON.stringify({ local: state.repositories.get('local'), keep: state.repositories.get('offsite')?.keep, server: state.server }))
`
    fs.writeFileSync(path.join(dir, 'plakar.ts'), code)
    const out = JSON.parse(runTs('plakar.ts', { PLAKAR_PASSPHRASE: 's3cret' }))
    expect(out).toEqual({
      local: { compression: 'zstd', keep: {}, location: '/var/backups/plakar', passphrase: 's3cret' },
      keep: { daily: 7, weekly: 4 },
      server: {
        listen: [{ address: '127.0.0.1', port: 9876 }],
        timeout: 30_000,
        maxUpload: 512 * 1024 * 1024,
      },
    })
    fs.chmodSync(conf, 0o644)
    expect(() => runTs('plakar.ts', { PLAKAR_PASSPHRASE: 's3cret' })).toThrow(
      /bad file permissions \(mode 0644\)/,
    )
  })

  it('both examples typecheck in strict mode', () => {
    fs.writeFileSync(path.join(dir, 'example.ts'), ts[0]!)
    fs.writeFileSync(path.join(dir, 'plakar.ts'), `${ts[1]!}\nexport {}\n`)
    fs.writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: path.join(pkg, '..', '..', 'tsconfig.base.json'),
        compilerOptions: { noEmit: true, typeRoots: [path.join(pkg, '..', '..', 'node_modules', '@types')] },
        files: ['example.ts', 'plakar.ts'],
      }),
    )
    const tsc = path.join(pkg, '..', '..', 'node_modules', 'typescript', 'bin', 'tsc')
    execFileSync(process.execPath, [tsc, '-p', '.'], { cwd: dir, encoding: 'utf8' })
  }, 180_000)
})
