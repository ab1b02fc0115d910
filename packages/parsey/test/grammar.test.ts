import {
  Configuration,
  ConfigurationError,
  Grammar,
  Lexer,
  ParseyError,
  string,
  UsageError,
} from '@poolp/parsey'
import { describe, expect, it } from 'vitest'
import { rejected } from './helpers.js'

function lexer(): Lexer {
  const l = new Lexer()
  l.registerTokenMatch('STRING', Lexer.isString)
  return l
}

describe('freeze and extend', () => {
  it('a frozen grammar refuses rules; an extension adds statements and leaves the original alone', () => {
    interface Base {
      names: string[]
    }
    const base = new Grammar<Base>({ state: () => ({ names: [] }) })
    base.registerRule(([, n], s) => s.names.push(n), 'name', string())
    base.freeze()
    expect(base.isFrozen).toBe(true)
    expect(() => base.registerRule(() => {}, 'other')).toThrow(UsageError)

    // A plugin extends the grammar, and the state with it.
    const plugin = base.extend<Base & { aliases: string[] }>({ state: () => ({ names: [], aliases: [] }) })
    plugin.registerRule(([, a], s) => s.aliases.push(a), 'alias', string())
    const text = 'name a\nalias b\n'
    expect(new Configuration(lexer(), plugin).parseString(text).state).toEqual({
      names: ['a'],
      aliases: ['b'],
    })

    const err = rejected(() => new Configuration(lexer(), base).parseString(text, { filename: 'f.conf' }))
    expect(err.errors[0]!.message).toBe("expected 'name' at start of statement, found 'alias'")
  })

  it('a configuration sees rules registered after it was built', () => {
    const g = new Grammar({ state: () => ({ n: 0 }) })
    const c = new Configuration(lexer(), g)
    g.registerRule((_, s) => s.n++, 'tick')
    expect(c.parseString('tick\ntick\n').state.n).toBe(2)
  })

  it('a frozen lexer refuses registrations and extends', () => {
    const l = lexer().freeze()
    expect(() => l.registerToken('x')).toThrow(UsageError)
    const more = l.extend()
    more.registerToken('x')
    expect(more.isFrozen).toBe(false)
  })
})

describe('errors', () => {
  const config = () => {
    const l = lexer()
    l.registerToken('listen')
    l.registerToken('on')
    const g = new Grammar()
    g.registerRule(() => {}, 'listen', 'on', 'STRING')
    return new Configuration(l, g)
  }

  it('collects every error and fails once, printing file:line:col, the line and a caret', () => {
    const text = 'listen on lo0\nlisten on\n\tlisten at lo0\nlisten on lo0 extra\n'
    const err = rejected(() => config().parseString(text, { filename: 'smtpd.conf' }))
    expect(err).toBeInstanceOf(ParseyError)
    expect(err.code).toBe('PARSEY_CONFIGURATION')
    expect(err.message).toBe(
      [
        "smtpd.conf:2:10: expected STRING after 'on', found end of line",
        'listen on',
        '         ^',
        "smtpd.conf:3:9: expected 'on' after 'listen', found 'at'",
        '\tlisten at lo0',
        '\t       ^',
        "smtpd.conf:4:15: expected end of line after 'lo0', found 'extra'",
        'listen on lo0 extra',
        '              ^',
      ].join('\n'),
    )
    expect(err.summary).toBe("smtpd.conf:2:10: expected STRING after 'on', found end of line (and 2 more)")
  })

  it('stops after maxErrors', () => {
    const l = lexer()
    const c = new Configuration(l, new Grammar(), { maxErrors: 3 })
    const err = rejected(() => c.parseString('a\nb\nc\nd\ne\n'))
    expect(err.errors.map((d) => d.code)).toEqual(['syntax', 'syntax', 'syntax', 'limit'])
  })

  it('throws only its own error types for misuse', () => {
    const c = config()
    expect(() => c.parseString(42 as unknown as string)).toThrow(UsageError)
    expect(() => c.parseFile('')).toThrow(UsageError)
    expect(() => new Configuration(lexer(), new Grammar(), { maxErrors: 0 })).toThrow(UsageError)
    expect(() => new Grammar().registerRule(() => {}, 42 as unknown as string)).toThrow(UsageError)
    expect(() => c.parseFile('/')).toThrow(ConfigurationError)
  })
})
