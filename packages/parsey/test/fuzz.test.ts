import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  block,
  bool,
  Configuration,
  ConfigurationError,
  duration,
  expr,
  Grammar,
  int,
  Lexer,
  list,
  optional,
  options,
  seq,
  size,
  string,
} from '@poolp/parsey'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { parsePfConfString } from '../examples/pf/grammar.js'
import { parseSmtpdConfString } from '../examples/smtpd/grammar.js'

/**
 * Whatever the input, a parse either succeeds or throws one
 * ConfigurationError whose every diagnostic points inside the input: a line
 * that exists (or the one just past the end, for "found end of file") and a
 * column on it, with the source line shown being that line.
 */

const examples = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'examples')
const samples = {
  smtpd: fs.readFileSync(path.join(examples, 'smtpd', 'smtpd.conf'), 'utf8'),
  pf: fs.readFileSync(path.join(examples, 'pf', 'pf.conf'), 'utf8'),
}
// Includes in generated text resolve here: an empty directory, so nothing outside is read.
const sandbox = fs.mkdtempSync(path.join(os.tmpdir(), 'parsey-fuzz-'))
afterAll(() => fs.rmSync(sandbox, { recursive: true, force: true }))

function kitchenSink(): Configuration<unknown> {
  const lexer = new Lexer({ maxTokenLength: 64 })
  lexer.registerToken('=>')
  lexer.registerTokenMatch('STRING', Lexer.isString)
  lexer.registerTokenMatch('NUMBER', Lexer.isNumber)
  lexer.registerTokenMatch('FLOAT', Lexer.isFloat)
  const inner = new Grammar({ state: () => ({ n: 0 }), conditionals: true })
  inner.registerRule(
    (_, s) => s.n++,
    'listen',
    'on',
    list(string()),
    optional(seq('port', int({ max: 65535 }))),
  )
  inner.registerRule(
    () => {},
    'limit',
    options({ size: seq('size', size()), time: seq('timeout', duration()) }),
  )
  const top = new Grammar({ state: () => ({ n: 0 }), conditionals: true })
  top.registerRule(() => {}, 'server', string(), block(inner))
  top.registerRule((_, s) => s.n++, 'match', '=>', 'STRING')
  top.registerRule(() => {}, 'set', 'STRING', '=', expr())
  top.registerRule(() => {}, 'debug', bool())
  top.registerRule(() => {}, 'nest', block(top))
  return new Configuration(lexer, top, { maxErrors: 1000 })
}

const sink = kitchenSink()
const parsers: Record<string, (text: string) => unknown> = {
  smtpd: (t) => parseSmtpdConfString(t, path.join(sandbox, 'smtpd.conf')),
  pf: (t) => parsePfConfString(t, { filename: path.join(sandbox, 'pf.conf') }),
  sink: (t) => sink.parseString(t, { filename: path.join(sandbox, 'sink.conf') }),
}

function checkParse(name: string, text: string): void {
  let err: unknown
  try {
    parsers[name]!(text)
    return
  } catch (e) {
    err = e
  }
  if (!(err instanceof ConfigurationError)) throw new Error(`${name} threw ${String(err)}`)
  expect(err.errors.length).toBeGreaterThan(0)
  const physical = text.split('\n')
  for (const d of [...err.errors, ...err.warnings]) {
    if (d.line === 0) continue // about a file as a whole (an include that does not exist)
    expect(d.line).toBeGreaterThanOrEqual(1)
    expect(d.line).toBeLessThanOrEqual(physical.length)
    const line = (physical[d.line - 1] ?? '').replace(/\r$/, '')
    expect(d.source).toBe(line)
    expect(d.column).toBeGreaterThanOrEqual(1)
    expect(d.column).toBeLessThanOrEqual(line.length + 1)
    expect(d.toString().startsWith(`${d.file}:${d.line}:${d.column}: `)).toBe(true)
  }
}

const vocabulary = [
  ...'{},=()<>!$#"\'\\\n\t '.split(''),
  '=>',
  '\\\n',
  '$ext_if',
  '$x',
  'x = "{ a, b }"',
  'include "nothere.conf"',
  'if',
  'else',
  '==',
  '&&',
  '+',
  'listen on',
  'port',
  '65536',
  '-1',
  '1.5',
  '10M',
  '5m',
  'yes',
  'server "s" {',
  'match',
  'table',
  '<t>',
  'pass in',
  'block',
  'from any to any',
  'action "local_mail"',
  'set',
  'nest {',
  '"unterminated',
]

const token = fc.oneof(
  fc.constantFrom(...vocabulary),
  fc.string({ maxLength: 6 }),
  fc.string({ unit: 'binary', maxLength: 4 }),
)
const configText = fc.array(token, { maxLength: 60 }).map((ts) => ts.join(' '))

type Mutation = { at: number; len: number; insert: string }
const mutation = fc.record({
  at: fc.nat(),
  len: fc.nat({ max: 12 }),
  insert: fc.oneof(token, fc.constant('')),
})
function mutate(text: string, ms: Mutation[]): string {
  let out = text
  for (const m of ms) {
    const at = m.at % (out.length + 1)
    out = out.slice(0, at) + m.insert + out.slice(at + m.len)
  }
  return out
}

describe('fuzz: only parsey errors, always inside the input', () => {
  for (const name of Object.keys(parsers)) {
    it(`${name}: random configurations`, () => {
      fc.assert(
        fc.property(configText, (text) => checkParse(name, text)),
        { numRuns: 400 },
      )
    })

    it(`${name}: random unicode and binary`, () => {
      fc.assert(
        fc.property(
          fc.oneof(
            fc.string({ unit: 'binary', maxLength: 200 }),
            fc.string({ unit: 'grapheme', maxLength: 200 }),
          ),
          (text) => checkParse(name, text),
        ),
        { numRuns: 300 },
      )
    })
  }

  for (const [sample, text] of Object.entries(samples)) {
    for (const name of Object.keys(parsers)) {
      it(`${name}: mutations of the ${sample} sample`, () => {
        fc.assert(
          fc.property(fc.array(mutation, { minLength: 1, maxLength: 8 }), (ms) =>
            checkParse(name, mutate(text, ms)),
          ),
          { numRuns: 250 },
        )
      })
    }
  }

  it('the unmutated samples parse with their own grammar', () => {
    expect(() => parsers.smtpd!(samples.smtpd)).not.toThrow()
    expect(() => parsers.pf!(samples.pf)).not.toThrow()
  })
})
