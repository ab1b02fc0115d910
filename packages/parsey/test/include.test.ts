import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { Configuration, Grammar, Lexer } from '@poolp/parsey'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { rejected } from './helpers.js'

let dir: string
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parsey-include-'))
})
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }))

function write(name: string, text: string, mode = 0o644): string {
  const p = path.join(dir, name)
  fs.mkdirSync(path.dirname(p), { recursive: true })
  fs.writeFileSync(p, text, { mode })
  fs.chmodSync(p, mode)
  return p
}

function config(opts: { maxIncludeDepth?: number } = {}) {
  const lexer = new Lexer()
  lexer.registerTokenMatch('STRING', Lexer.isString)
  const g = new Grammar({ state: () => ({ names: [] as string[] }) })
  g.registerRule(
    ([, n], s) => s.names.push(`${n.value}@${path.basename(n.file)}:${n.line}`),
    'name',
    'STRING',
  )
  return new Configuration(lexer, g, opts)
}

describe('include', () => {
  it('reads included files relative to the including file, nested, in place', () => {
    write('conf.d/b.conf', 'name b\ninclude "../c.conf"\n')
    write('c.conf', 'name c')
    const top = write('a.conf', 'name a1\ninclude "conf.d/b.conf"\nname a2\n')
    const { state, files } = config().parseFile(top)
    expect(state.names).toEqual(['a1@a.conf:1', 'b@b.conf:1', 'c@c.conf:1', 'a2@a.conf:3'])
    expect(files.map((f) => path.relative(fs.realpathSync(dir), f))).toEqual([
      'a.conf',
      'conf.d/b.conf',
      'c.conf',
    ])
  })

  it('shares macros across included files', () => {
    write('m.conf', 'who = "from-include"\n')
    const top = write('a.conf', 'include "m.conf"\nname $who\n')
    expect(config().parseFile(top).state.names).toEqual(['from-include@a.conf:2'])
  })

  it('detects a cycle and names the chain', () => {
    write('b.conf', 'include "a.conf"\n')
    const top = write('a.conf', 'name x\ninclude "b.conf"\n')
    const err = rejected(() => config().parseFile(top))
    expect(err.errors).toHaveLength(1)
    const d = err.errors[0]!
    expect(d.file).toBe(path.join(fs.realpathSync(dir), 'b.conf'))
    expect(d.message).toMatch(/^include cycle: .*a\.conf -> .*b\.conf -> .*a\.conf$/)
    expect(d.includedFrom).toEqual([`${top}:2`])
  })

  it('limits include depth', () => {
    for (let k = 0; k < 5; k++) write(`d${k}.conf`, `include "d${k + 1}.conf"\n`)
    write('d5.conf', 'name deep\n')
    const err = rejected(() => config({ maxIncludeDepth: 3 }).parseFile(path.join(dir, 'd0.conf')))
    expect(err.errors[0]!.message).toMatch(/includes nest too deeply \(limit 3\)/)
  })

  it('names the included file in its diagnostics and shows where it was included from', () => {
    write('bad.conf', 'name ok\nname\n')
    const top = write('a.conf', 'include "bad.conf"\ninclude "missing.conf"\n')
    const err = rejected(() => config().parseFile(top))
    const [first, second] = err.errors
    expect(first!.file).toBe(path.join(fs.realpathSync(dir), 'bad.conf'))
    expect(first!.line).toBe(2)
    expect(first!.toString()).toContain(`included from ${top}:1`)
    expect(second!.toString()).toMatch(
      /a\.conf:2:9: cannot include 'missing\.conf': cannot open: no such file or directory/,
    )
  })

  it('ends a statement left open at the end of an included file', () => {
    write('open.conf', 'name')
    const top = write('a.conf', 'include "open.conf"\nname after\n')
    const err = rejected(() => config().parseFile(top))
    expect(err.errors.map((d) => d.message)).toEqual(["expected STRING after 'name', found end of line"])
  })

  it('reports a missing top file as one error', () => {
    const err = rejected(() => config().parseFile(path.join(dir, 'none.conf')))
    expect(err.message).toBe(`${path.join(dir, 'none.conf')}: cannot open: no such file or directory`)
  })
})

describe('secret files', () => {
  it('accepts a file closed to group and others', () => {
    const p = write('s.conf', 'name x\n', 0o600)
    expect(config().parseFile(p, { secret: true }).state.names).toEqual(['x@s.conf:1'])
  })

  it('refuses a file group or others can read', () => {
    const p = write('s.conf', 'name x\n', 0o640)
    const err = rejected(() => config().parseFile(p, { secret: true }))
    expect(err.errors[0]!.code).toBe('insecure')
    expect(err.message).toBe(
      `${p}: bad file permissions (mode 0640): must not be accessible by group or others (chmod 600)`,
    )
    expect(config().parseFile(p).state.names).toEqual(['x@s.conf:1'])
  })

  it('checks included files too', () => {
    write('inc.conf', 'name y\n', 0o604)
    const p = write('s.conf', 'include "inc.conf"\n', 0o600)
    const err = rejected(() => config().parseFile(p, { secret: true }))
    expect(err.errors[0]!.code).toBe('insecure')
    expect(err.errors[0]!.message).toMatch(/cannot include 'inc.conf': bad file permissions \(mode 0604\)/)
  })

  const root = typeof process.getuid === 'function' && process.getuid() === 0
  it.skipIf(!root)('refuses a file owned by another user (needs root to chown)', () => {
    const p = write('s.conf', 'name x\n', 0o600)
    fs.chownSync(p, 4242, 4242)
    const err = rejected(() => config().parseFile(p, { secret: true }))
    expect(err.message).toBe(
      `${p}: bad file owner (uid 4242): must be owned by root or the current user (uid 0)`,
    )
  })
})
