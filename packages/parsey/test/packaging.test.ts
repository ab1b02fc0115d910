import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/**
 * The package as a user gets it: `pnpm pack`, then `npm install` of the
 * tarball into an empty project outside the workspace (offline: parsey has no
 * dependencies), where `import`, `require` and the type declarations must work.
 */
const pkg = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const workspace = path.join(pkg, '..', '..')
const tsc = path.join(workspace, 'node_modules', 'typescript', 'bin', 'tsc')
let project: string

/**
 * The pnpm running this test suite (`pnpm test` sets npm_execpath; pnpm 12 is a
 * native executable, older ones a script), else whatever `pnpm` is on PATH: CI
 * runs pnpm through npx, which does not put it on PATH.
 */
function pnpm(): [string, string[]] {
  const exec = process.env.npm_execpath
  if (exec && /pnpm/.test(path.basename(exec))) {
    return /\.[cm]?js$/.test(exec) ? [process.execPath, [exec]] : [exec, []]
  }
  return ['pnpm', []]
}

function run(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

const example = `
lexer.registerToken('listen'); lexer.registerToken('on')
lexer.registerToken('match'); lexer.registerToken('=>')
lexer.registerTokenMatch('STRING', Lexer.isString)
const grammar = new Grammar({ state: () => ({ listen: [], match: [] }) })
grammar.registerRule(([, , on], s) => s.listen.push(on.value), 'listen', 'on', 'STRING')
grammar.registerRule(([, , to], s) => s.match.push(to.value), 'match', '=>', 'STRING')
const config = new Configuration(lexer, grammar)
const { state } = config.parseString('listen on fxp0\\nmatch => fxp0\\n\\nlisten on \\\\\\n  fxp0\\nmatch       =>    fxp0\\n')
let code = 'none'
try { config.parseString('listen on\\n', { filename: 'bad.conf' }) } catch (e) { code = e instanceof ConfigurationError ? e.code : 'wrong' }
console.log(JSON.stringify({ state, code }))
`

beforeAll(() => {
  if (
    !fs.existsSync(path.join(pkg, 'dist', 'index.js')) ||
    !fs.existsSync(path.join(pkg, 'dist', 'index.cjs'))
  ) {
    run(process.execPath, [path.join(workspace, 'node_modules', 'tsup', 'dist', 'cli-default.js')], pkg)
  }
  project = fs.mkdtempSync(path.join(os.tmpdir(), 'parsey-consumer-'))
  const [cmd, pre] = pnpm()
  const out = run(cmd, [...pre, 'pack', '--pack-destination', project], pkg)
  const tarball = fs.readdirSync(project).find((f) => f.endsWith('.tgz'))
  if (!tarball) throw new Error(`pnpm pack made no tarball: ${out}`)
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true }))
  run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', `./${tarball}`], project)
}, 120_000)

afterAll(() => {
  if (project) fs.rmSync(project, { recursive: true, force: true })
})

describe('packed and installed outside the workspace', () => {
  it('ships only dist, the README and package.json', () => {
    const root = path.join(project, 'node_modules', '@poolp', 'parsey')
    expect(fs.readdirSync(root).sort()).toEqual(['README.md', 'dist', 'package.json'])
  })

  const expected = {
    state: { listen: ['fxp0', 'fxp0'], match: ['fxp0', 'fxp0'] },
    code: 'PARSEY_CONFIGURATION',
  }

  it('works with import (ESM)', () => {
    fs.writeFileSync(
      path.join(project, 'esm.mjs'),
      `import { Lexer, Grammar, Configuration, ConfigurationError } from '@poolp/parsey'\nconst lexer = new Lexer()\n${example}`,
    )
    expect(JSON.parse(run(process.execPath, ['esm.mjs'], project))).toEqual(expected)
  })

  it('works with require (CommonJS)', () => {
    fs.writeFileSync(
      path.join(project, 'cjs.cjs'),
      `const { Lexer, Grammar, Configuration, ConfigurationError } = require('@poolp/parsey')\nconst lexer = new Lexer()\n${example}`,
    )
    expect(JSON.parse(run(process.execPath, ['cjs.cjs'], project))).toEqual(expected)
  })

  it('resolves the types for both, and they catch a mistake', () => {
    const typed = (imp: string) => `${imp}
const lexer = new Lexer()
lexer.registerTokenMatch('STRING', Lexer.isString)
const grammar = new Grammar({ state: () => ({ ports: [] as number[] }) })
grammar.registerRule(([, port], s) => { s.ports.push(port) }, 'port', int({ min: 1, max: 65535 }))
const ports: number[] = new Configuration(lexer, grammar).parseString('port 25\\n').state.ports
export const ok: boolean = ports.length === 1 && new ConfigurationError([]).code === 'PARSEY_CONFIGURATION'
`
    fs.writeFileSync(
      path.join(project, 'check.mts'),
      typed(`import { Configuration, ConfigurationError, Grammar, int, Lexer } from '@poolp/parsey'`),
    )
    fs.writeFileSync(
      path.join(project, 'check.cts'),
      typed(
        `import parsey = require('@poolp/parsey')\nconst { Configuration, ConfigurationError, Grammar, int, Lexer } = parsey`,
      ),
    )
    const tsconfig = (files: string[]) =>
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          noEmit: true,
          types: [],
        },
        files,
      })
    // A string where the grammar yields a number must be refused: the types are real, not `any`.
    fs.writeFileSync(
      path.join(project, 'wrong.mts'),
      `import { Grammar, int } from '@poolp/parsey'
const g = new Grammar({ state: () => ({ names: [] as string[] }) })
g.registerRule(([, port], s) => { s.names.push(port) }, 'port', int())
`,
    )
    fs.writeFileSync(path.join(project, 'tsconfig.json'), tsconfig(['check.mts', 'check.cts', 'wrong.mts']))
    // One compiler run (it is slow): the only error must be the deliberate one.
    let out = ''
    try {
      run(process.execPath, [tsc, '-p', '.', '--pretty', 'false'], project)
    } catch (err) {
      out = String((err as { stdout?: string }).stdout)
    }
    expect(out.trim().split('\n')).toHaveLength(1)
    expect(out).toMatch(
      /^wrong\.mts\(3,.*Argument of type 'number' is not assignable to parameter of type 'string'/,
    )
  }, 180_000)
})
