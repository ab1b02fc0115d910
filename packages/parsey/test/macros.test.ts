import { Configuration, Grammar, Lexer, list, string, UsageError } from '@poolp/parsey'
import { describe, expect, it } from 'vitest'
import { lines, rejected } from './helpers.js'

function config() {
  const lexer = new Lexer()
  lexer.registerTokenMatch('STRING', Lexer.isString)
  lexer.registerTokenMatch('NUMBER', Lexer.isNumber)
  const g = new Grammar({ state: () => ({ pass: [] as string[][] }) })
  g.registerRule(([, hosts], s) => s.pass.push(hosts), 'pass', list(string()))
  return new Configuration(lexer, g)
}

describe('macros', () => {
  it('defines with name = "value" and expands $name outside quotes only', () => {
    const { state } = config().parseString('host = "fxp0"\npass $host\npass "$host"\n')
    expect(state.pass).toEqual([['fxp0'], ['$host']])
  })

  it('lexes a macro value again, so it can hold a list', () => {
    const { state } = config().parseString('web = "{ www1, www2 www3 }"\npass $web\n')
    expect(state.pass).toEqual([['www1', 'www2', 'www3']])
  })

  it('expands macros inside macro definitions and concatenates several values', () => {
    const { state } = config().parseString('a = one\nb = "{" $a two "}"\npass $b\n')
    expect(state.pass).toEqual([['one', 'two']])
  })

  it('reports an undefined macro at the reference', () => {
    const err = rejected(() => config().parseString('pass $nope\n', { filename: 'm.conf' }))
    expect(lines(err)).toEqual(["m.conf:1:6: undefined macro 'nope'"])
  })

  it('accepts only letters, digits and underscore in names', () => {
    const err = rejected(() => config().parseString('bad-name = x\n', { filename: 'm.conf' }))
    expect(lines(err)).toEqual([
      "m.conf:1:1: invalid macro name 'bad-name': use letters, digits and underscore",
    ])
    expect(() => config().parseString('pass x\n', { macros: { 'no-dash': 'x' } })).toThrow(UsageError)
  })

  it('lets caller macros (-D) win over the file', () => {
    const { state, warnings } = config().parseString('iface = lo0\npass $iface\n', {
      macros: { iface: 'em0' },
    })
    expect(state.pass).toEqual([['em0']])
    expect(warnings).toEqual([])
  })

  it('warns about a macro defined and never used, without failing', () => {
    const { state, warnings } = config().parseString('unused = 1\nused = x\npass $used\n', {
      filename: 'w.conf',
    })
    expect(state.pass).toEqual([['x']])
    expect(warnings.map(String)).toEqual([
      "w.conf:1:1: warning: macro 'unused' is defined but never used\nunused = 1\n^",
    ])
  })

  it('stops a macro that expands itself', () => {
    const err = rejected(() => config().parseString('a = "$a"\npass $a\n'))
    expect(err.errors[0]!.message).toMatch(/nests too deeply/)
  })

  it('points errors inside an expansion at the reference, naming the macro', () => {
    const err = rejected(() => config().parseString('l = "{ a, = }"\npass $l\n', { filename: 'x.conf' }))
    expect(err.errors[0]!.where()).toBe('x.conf:2:6')
    expect(err.errors[0]!.message).toMatch(/in the expansion of \$l/)
  })

  it('passes numbers and booleans from the caller as text', () => {
    const { state } = config().parseString('pass $n $b\n'.replace(' $b', ''), { macros: { n: 5, b: true } })
    expect(state.pass).toEqual([['5']])
  })
})
