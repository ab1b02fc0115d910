import {
  alt,
  block,
  bool,
  Configuration,
  duration,
  expr,
  Grammar,
  int,
  Lexer,
  list,
  many,
  many1,
  optional,
  options,
  seq,
  size,
  string,
  token,
} from '@poolp/parsey'
import { describe, expect, expectTypeOf, it } from 'vitest'
import { lines, rejected } from './helpers.js'

function lexer(): Lexer {
  const l = new Lexer()
  l.registerTokenMatch('STRING', Lexer.isString)
  l.registerTokenMatch('NUMBER', Lexer.isNumber)
  return l
}

/** One statement `v <pattern>` whose value is collected. */
function values<T>(pattern: import('@poolp/parsey').Pattern<T>, text: string): T[] {
  const g = new Grammar({ state: () => [] as T[] })
  g.registerRule(([, v], s) => s.push(v), 'v', pattern)
  return new Configuration(lexer(), g).parseString(text, { filename: 'p.conf' }).state
}

function errors<T>(pattern: import('@poolp/parsey').Pattern<T>, text: string): string[] {
  return lines(rejected(() => values(pattern, text)))
}

describe('combinators', () => {
  it('optional yields the value or the fallback', () => {
    const p = seq('a', optional(seq('port', int())), optional('tls', null))
    expect(
      values(p, 'v a port 25 tls\nv a\n').map(([, port, tls]) => [port?.[1], tls?.value ?? tls]),
    ).toEqual([
      [25, 'tls'],
      [undefined, null],
    ])
  })

  it('alt tries alternatives in order', () => {
    const p = alt(
      int().map((n) => ({ n })),
      'none',
      string().map((s) => ({ s })),
    )
    expect(values(p, 'v 5\nv none\nv other\n').map((v) => ('kind' in v ? v.value : v))).toEqual([
      { n: 5 },
      'none',
      { s: 'other' },
    ])
  })

  it('many and many1 repeat', () => {
    expect(values(many('STRING'), 'v\nv a b c\n').map((ts) => ts.length)).toEqual([0, 3])
    expect(errors(many1('STRING'), 'v\n')).toEqual([
      "p.conf:1:2: expected STRING after 'v', found end of line",
    ])
  })

  it('list takes braces with optional commas across lines, or one bare item', () => {
    expect(values(list(string()), 'v { a, b c\n d, }\nv single\n')).toEqual([
      ['a', 'b', 'c', 'd'],
      ['single'],
    ])
    expect(errors(list(string(), { single: false }), 'v single\n')).toEqual([
      "p.conf:1:3: expected '{' after 'v', found 'single'",
    ])
    expect(errors(list(string()), 'v { a, b\nv c\n')[0]).toBe(
      "p.conf:2:1: expected string or '}' after 'b', found 'v'",
    )
  })

  it('never loops on items that can match nothing', () => {
    expect(values(list(optional('a')), 'v { a a }\n')).toHaveLength(1)
    expect(errors(list(optional('a')), 'v { a b }\n')).toEqual([
      "p.conf:1:7: expected 'a' or '}' after 'a', found 'b'",
    ])
    expect(errors(many(optional('a')), 'v a b\n')).toEqual([
      "p.conf:1:5: expected 'a' or end of line after 'a', found 'b'",
    ])
  })

  it('options accepts each option once, in any order', () => {
    const p = options({ port: seq('port', int()).map(([, n]) => n), tls: token('tls').map(() => true) })
    expect(values(p, 'v tls port 25\nv port 1\nv\n')).toEqual([{ tls: true, port: 25 }, { port: 1 }, {}])
    expect(errors(p, 'v port 1 port 2\n')).toEqual(["p.conf:1:10: option 'port' given more than once"])
  })
})

describe('typed values', () => {
  it('int with a range', () => {
    expect(values(int({ min: 1, max: 65535 }), 'v 1\nv 65535\n')).toEqual([1, 65535])
    expect(errors(int({ min: 1, max: 65535 }), 'v 0\nv 70000\nv -1\nv x\n')).toEqual([
      "p.conf:1:3: expected integer between 1 and 65535 after 'v', found '0'",
      "p.conf:2:3: expected integer between 1 and 65535 after 'v', found '70000'",
      "p.conf:3:3: expected integer between 1 and 65535 after 'v', found '-1'",
      "p.conf:4:3: expected integer between 1 and 65535 after 'v', found 'x'",
    ])
  })

  it('size with K/M/G/T suffixes', () => {
    expect(values(size(), 'v 512\nv 4K\nv 10M\nv 1.5G\nv 2T\nv 64kb\n')).toEqual([
      512,
      4096,
      10 * 1024 ** 2,
      1.5 * 1024 ** 3,
      2 * 1024 ** 4,
      65536,
    ])
    expect(errors(size({ max: 1024 ** 3 }), 'v 10Q\nv 2G\n')).toEqual([
      "p.conf:1:3: expected size (such as 512K, 10M, 2G) of at most 1G after 'v', found '10Q'",
      "p.conf:2:3: expected size (such as 512K, 10M, 2G) of at most 1G after 'v', found '2G'",
    ])
  })

  it('duration in milliseconds, a bare number counting seconds', () => {
    expect(values(duration(), 'v 30s\nv 5m\nv 4h\nv 1d\nv 1h30m\nv 250ms\nv 10\n')).toEqual([
      30_000, 300_000, 14_400_000, 86_400_000, 5_400_000, 250, 10_000,
    ])
    expect(errors(duration(), 'v 5x\n')[0]).toMatch(/expected duration \(such as 30s, 5m, 4h, 1d\)/)
  })

  it('yes/no booleans and strings', () => {
    expect(values(bool(), 'v yes\nv no\nv true\nv false\n')).toEqual([true, false, true, false])
    expect(errors(bool(), 'v maybe\n')).toEqual(["p.conf:1:3: expected yes or no after 'v', found 'maybe'"])
    expect(values(string(), 'v word\nv "quoted words"\nv 42\n')).toEqual(['word', 'quoted words', '42'])
  })
})

describe('nested blocks', () => {
  it('builds each block into its own typed state', () => {
    const location = new Grammar({ state: () => ({ root: '', index: [] as string[] }) })
    location.registerRule(([, r], s) => (s.root = r), 'root', string())
    location.registerRule(([, names], s) => s.index.push(...names), 'index', list(string()))
    const server = new Grammar({
      state: () => ({ listen: [] as number[], locations: new Map<string, typeof l>() }),
    })
    const l = location.init()
    server.registerRule(([, , port], s) => s.listen.push(port), 'listen', 'on', int())
    server.registerRule(
      ([, path, body], s) => s.locations.set(path, body),
      'location',
      string(),
      block(location),
    )
    const top = new Grammar({ state: () => ({ servers: [] as { name: string; listen: number[] }[] }) })
    top.registerRule(
      ([, name, body], s) => s.servers.push({ name, listen: body.listen }),
      'server',
      string(),
      block(server),
    )
    const text = `server "a" {
  listen on 80
  location "/" { root "/var/www"
    index { index.html, index.htm }
  }
  listen on 443
}
server "b" {
}
`
    const c = new Configuration(lexer(), top)
    expect(c.parseString(text).state.servers).toEqual([
      { name: 'a', listen: [80, 443] },
      { name: 'b', listen: [] },
    ])
  })

  it('recovers inside a block and reports every error', () => {
    const inner = new Grammar({ state: () => ({ n: 0 }) })
    inner.registerRule((_, s) => s.n++, 'ok')
    const top = new Grammar()
    top.registerRule(() => {}, 'server', string(), block(inner))
    top.registerRule(() => {}, 'other')
    const err = rejected(() =>
      new Configuration(lexer(), top).parseString('server x {\n ok\n bad\n ok junk\n}\nother\nnope\n', {
        filename: 'b.conf',
      }),
    )
    expect(lines(err)).toEqual([
      "b.conf:3:2: expected 'ok' at start of statement, found 'bad'",
      "b.conf:4:5: expected end of line after 'ok', found 'junk'",
      "b.conf:7:1: expected 'server' or 'other' at start of statement, found 'nope'",
    ])
  })

  it('reports a block left open at the end of the file', () => {
    const inner = new Grammar()
    inner.registerRule(() => {}, 'ok')
    const top = new Grammar()
    top.registerRule(() => {}, 'server', block(inner))
    const err = rejected(() =>
      new Configuration(lexer(), top).parseString('server {\n ok\n', { filename: 'o.conf' }),
    )
    expect(lines(err)).toEqual(["o.conf:3:1: expected '}' after 'ok', found end of file"])
  })
})

describe('expressions and conditionals', () => {
  it('evaluates arithmetic, comparisons and boolean logic with precedence', () => {
    expect(
      values(
        expr(),
        'v 1 + 2 * 3\nv ( 1 + 2 ) * 3\nv 7 % 4 - -1\nv "a" + "b"\nv 2 >= 1 && ! no || no\nv 10 / 4\n',
      ),
    ).toEqual([7, 9, 4, 'ab', true, 2.5])
  })

  it('reports type errors and division by zero at the operator', () => {
    expect(errors(expr(), 'v "a" * 2\nv 1 / 0\nv yes < no\n')).toEqual([
      "p.conf:1:7: cannot apply '*' to string and number",
      'p.conf:2:5: division by zero',
      "p.conf:3:7: '<' does not apply to booleans",
    ])
  })

  it('takes the branch whose condition holds and builds nothing from the others', () => {
    const g = new Grammar({ state: () => ({ set: [] as string[] }), conditionals: true })
    g.registerRule(([, v], s) => s.set.push(v), 'set', string())
    const c = new Configuration(lexer(), g)
    const text = `if $env == "prod" {
  set a
} else if $env == "test" {
  set b
  if $debug { set debug }
} else {
  set c
}
set always
`
    const run = (env: string, debug: boolean) => c.parseString(text, { macros: { env, debug } }).state.set
    expect(run('prod', true)).toEqual(['a', 'always'])
    expect(run('test', true)).toEqual(['b', 'debug', 'always'])
    expect(run('test', false)).toEqual(['b', 'always'])
    expect(run('dev', true)).toEqual(['c', 'always'])
  })

  it('still checks the syntax of branches not taken', () => {
    const g = new Grammar({ conditionals: true })
    g.registerRule(() => {}, 'set', string())
    const err = rejected(() =>
      new Configuration(lexer(), g).parseString('if no {\n set\n}\nif 3 { set x }\n', { filename: 'c.conf' }),
    )
    expect(lines(err)).toEqual([
      "c.conf:2:5: expected string after 'set', found end of line",
      'c.conf:4:4: condition must be a comparison or yes/no, not a number',
    ])
  })
})

describe('builders', () => {
  it('type the values of each item and the state, without casts', () => {
    const g = new Grammar({ state: () => ({ ports: [] as number[] }) })
    g.registerRule(
      ([kw, port, name, tls], state, ctx) => {
        expectTypeOf(kw.value).toEqualTypeOf<string>()
        expectTypeOf(port).toEqualTypeOf<number>()
        expectTypeOf(name).toEqualTypeOf<string | undefined>()
        expectTypeOf(tls).toEqualTypeOf<boolean>()
        expectTypeOf(state).toEqualTypeOf<{ ports: number[] }>()
        expect(ctx.tokens.map((t) => t.value)).toEqual(['port', '25', 'x', 'yes'])
        expect([ctx.start.line, ctx.start.column, ctx.start.kind]).toEqual([1, 1, 'port'])
        state.ports.push(port)
      },
      'port',
      int(),
      optional(string()),
      bool(),
    )
    const { state } = new Configuration(lexer(), g).parseString('port 25 x yes\n')
    expectTypeOf(state).toEqualTypeOf<{ ports: number[] }>()
    expect(state.ports).toEqual([25])
  })

  it('report errors with ctx.error, or by throwing, at the statement', () => {
    const g = new Grammar({ state: () => new Set<string>() })
    g.registerRule(
      ([, t], s, ctx) => {
        if (s.has(t.value)) ctx.error(`table '${t.value}' is already defined`, t)
        s.add(t.value)
      },
      'table',
      'STRING',
    )
    g.registerRule(() => {
      throw new Error('not supported yet')
    }, 'later')
    g.registerRule((_, _s, ctx) => ctx.warn('deprecated'), 'old')
    const c = new Configuration(lexer(), g)
    const err = rejected(() => c.parseString('table a\ntable a\n  later\nold\n', { filename: 't.conf' }))
    expect(lines(err)).toEqual(["t.conf:2:7: table 'a' is already defined", 't.conf:3:3: not supported yet'])
    expect(err.warnings.map((w) => w.where())).toEqual(['t.conf:4:1'])
  })
})
