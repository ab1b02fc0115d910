import { alt, Configuration, Grammar, Lexer, many, type Token } from '@poolp/parsey'
import { describe, expect, it } from 'vitest'
import { lines, rejected } from './helpers.js'

/** A grammar whose one statement, `t ...`, records every token after `t` on the line. */
function tokens(text: string, lexer = defaultLexer()): Token[][] {
  const g = new Grammar({ state: () => [] as Token[][] })
  const punctuation = ['{', '}', ',', '=', '(', ')', '<', '>', '!', '=>'] as const
  g.registerRule(([, toks], s) => s.push(toks), 't', many(alt('ANY', ...punctuation)))
  return new Configuration(lexer, g).parseString(text, { filename: 'lex.conf' }).state
}

function defaultLexer(): Lexer {
  const l = new Lexer()
  l.registerToken('=>')
  l.registerTokenMatch('NUMBER', Lexer.isNumber)
  l.registerTokenMatch('FLOAT', Lexer.isFloat)
  l.registerTokenMatch('STRING', Lexer.isString)
  l.registerTokenMatch('ANY', () => true)
  return l
}

const kv = (ts: Token[]) => ts.map((t) => `${t.kind}:${t.value}`)

describe('lexing as parse.y does', () => {
  it('reads the issue example: two listen and two match statements', () => {
    const lexer = new Lexer()
    lexer.registerToken('listen')
    lexer.registerToken('on')
    lexer.registerToken('match')
    lexer.registerToken('=>')
    lexer.registerTokenMatch('FOOBAR', (v) => v === 'foobar?')
    lexer.registerTokenMatch('STRING', Lexer.isString)
    lexer.registerTokenMatch('NUMBER', Lexer.isNumber)
    lexer.registerTokenMatch('FLOAT', Lexer.isFloat)
    const grammar = new Grammar({ state: () => ({ listen: [] as string[], match: [] as string[] }) })
    grammar.registerRule(([, , on], s) => s.listen.push(on.value), 'listen', 'on', 'STRING')
    grammar.registerRule(([, , to], s) => s.match.push(to.value), 'match', '=>', 'STRING')
    const config = new Configuration(lexer, grammar)
    const { state } = config.parseString(
      'listen on fxp0\nmatch => fxp0\n\nlisten on \\\n  fxp0\nmatch       =>    fxp0\n',
    )
    expect(state).toEqual({ listen: ['fxp0', 'fxp0'], match: ['fxp0', 'fxp0'] })
  })

  it('classifies words, numbers, floats and negative numbers', () => {
    const [t] = tokens('t word 42 -7 3.14 -0.5 1.2.3 10K "42"\n')
    expect(kv(t!)).toEqual([
      'STRING:word',
      'NUMBER:42',
      'NUMBER:-7',
      'FLOAT:3.14',
      'FLOAT:-0.5',
      'STRING:1.2.3',
      'STRING:10K',
      'STRING:42',
    ])
    expect(t![7]!.quoted).toBe(true)
  })

  it('skips comments to the end of the line, but not inside quotes', () => {
    const [t] = tokens('t a "b # not a comment" \'c#d\' e#f # comment { "\n')
    // A `#` ends a bare word and starts a comment, as in parse.y.
    expect(t!.map((x) => x.value)).toEqual(['a', 'b # not a comment', 'c#d', 'e'])
  })

  it('splits punctuation and registered operators out of words', () => {
    const [t] = tokens('t a{b,c}=(d)<e>!f => g=>h = >\n')
    expect(t!.map((x) => x.value)).toEqual('a { b , c } = ( d ) < e > ! f => g => h = >'.split(' '))
    expect(t!.filter((x) => x.kind === '=>').length).toBe(2)
  })

  it('resolves escapes in double and single quotes', () => {
    const [t] = tokens('t "say \\"hi\\"" \'it\\\'s\' "back\\\\slash" "keep \\n"\n')
    expect(t!.map((x) => x.value)).toEqual(['say "hi"', "it's", 'back\\slash', 'keep \\n'])
  })

  it('joins lines ending in a backslash, inside and outside quotes, and keeps line numbers', () => {
    const [t] = tokens('t a \\\n b "c\\\nd" \\\n e\n')
    expect(t!.map((x) => x.value)).toEqual(['a', 'b', 'cd', 'e'])
    expect(t!.map((x) => x.line)).toEqual([1, 2, 2, 4])
    expect(t!.map((x) => x.column)).toEqual([3, 2, 4, 2])
  })

  it('treats newlines as statement separators and whitespace as free', () => {
    const got = tokens('\n\n   t\ta   b\r\n\tt c\n\n')
    expect(got.map(kv)).toEqual([['STRING:a', 'STRING:b'], ['STRING:c']])
  })

  it('reports an unterminated quoted string at its opening quote', () => {
    const err = rejected(() => tokens('t a\nt "open\nt b\n'))
    expect(lines(err)).toEqual(['lex.conf:2:3: unterminated quoted string'])
  })

  it('limits token length with a clear error', () => {
    const lexer = new Lexer({ maxTokenLength: 8 })
    lexer.registerTokenMatch('ANY', () => true)
    const err = rejected(() => tokens(`t short ${'x'.repeat(9)} "${'y'.repeat(20)}"\n`, lexer))
    expect(lines(err)).toEqual([
      'lex.conf:1:9: token too long (more than 8 characters)',
      'lex.conf:1:19: token too long (more than 8 characters)',
    ])
  })

  it('gives tokens their file, line and column', () => {
    const [t] = tokens('# first line\n  t  alpha\tbeta\n')
    expect(t!.map((x) => [x.file, x.line, x.column])).toEqual([
      ['lex.conf', 2, 6],
      ['lex.conf', 2, 12],
    ])
  })

  it('offers the go-parsey predicates', () => {
    expect(Lexer.isNumber('12')).toBe(true)
    expect(Lexer.isNumber('-12')).toBe(true)
    expect(Lexer.isNumber('1.5')).toBe(false)
    expect(Lexer.isNumber('12', true)).toBe(false)
    expect(Lexer.isFloat('1.5')).toBe(true)
    expect(Lexer.isFloat('1.')).toBe(false)
    expect(Lexer.isString('fxp0')).toBe(true)
    expect(Lexer.isString('12')).toBe(false)
    expect(Lexer.isString('12', true)).toBe(true)
  })

  it('refuses tokens that could not be lexed back', () => {
    const l = new Lexer()
    expect(() => l.registerToken('a b')).toThrow(/cannot be a token/)
    expect(() => l.registerToken('a=')).toThrow(/cannot be a token/)
    expect(() => l.registerToken('')).toThrow(/non-empty/)
    l.registerTokenMatch('X', () => true)
    expect(() => l.registerTokenMatch('X', () => true)).toThrow(/already registered/)
  })

  it('keeps quoted keywords as strings', () => {
    const l = defaultLexer()
    l.registerToken('on')
    const [t] = tokens('t "on"\n', l)
    expect(t![0]!.kind).toBe('STRING')
  })
})
