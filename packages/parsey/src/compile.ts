import { conditionMatcher } from './expr.js'
import type { Grammar } from './grammar.js'
import type { Lexer, TokenPredicate } from './lexer.js'
import { classifyLiteral, Lexer as LexerClass } from './lexer.js'
import type { CompiledGrammar, CompiledRule, Compiler, Matcher } from './runtime.js'
import { EOF, EOL, FLOAT, INT, KEYWORD, PUNCT, QUOTED } from './token.js'

/**
 * Compiles grammars against a lexer: resolves each token name to a kind or a
 * literal, collects the literals the lexer must know, and indexes rules by
 * the literal a statement starts with.
 */
export class GrammarCompiler implements Compiler {
  readonly keywords = new Set<string>()
  readonly operators = new Set<string>()
  usesBlocks = false
  private readonly kinds = new Map<string, TokenPredicate>()
  private readonly done = new Map<Grammar<unknown>, CompiledGrammar>()
  private readonly terminals = new Map<string, Matcher>()

  constructor(lexer: Lexer) {
    for (const m of lexer.snapshot().matchers) this.kinds.set(m.kind, m.predicate)
    this.operators.add('{')
    this.operators.add('}')
  }

  /** Every grammar compiled, with the version it was compiled at. */
  versions(): [Grammar<unknown>, number][] {
    return [...this.done.keys()].map((g) => [g, g.version])
  }

  firstOf(name: string): string {
    if (this.kinds.has(name)) return '*'
    return name
  }

  operator(op: string): void {
    this.operators.add(op)
  }

  terminal(name: string): Matcher {
    const cached = this.terminals.get(name)
    if (cached) return cached
    const m = this.makeTerminal(name)
    this.terminals.set(name, m)
    return m
  }

  private makeTerminal(name: string): Matcher {
    const predicate = this.kinds.get(name)
    if (predicate) {
      const accepts = acceptor(predicate)
      return (p, i) => {
        const t = p.tok(i)
        if (
          t.kind === name ||
          ((t.flags & (KEYWORD | PUNCT | EOL | EOF)) === 0 && accepts(t.value, t.flags))
        ) {
          p.v = t
          return i + 1
        }
        return p.fail(i, name)
      }
    }
    const what = `'${name}'`
    if (classifyLiteral(name) === 'operator') {
      this.operators.add(name)
      return (p, i) => {
        p.ensure(i)
        if (p.buf.flags[i]! & PUNCT && p.buf.kinds[i] === name) {
          p.v = p.tok(i)
          return i + 1
        }
        return p.fail(i, what)
      }
    }
    this.keywords.add(name)
    return (p, i) => {
      p.ensure(i)
      if (p.buf.flags[i]! & KEYWORD && p.buf.kinds[i] === name) {
        p.v = p.tok(i)
        return i + 1
      }
      return p.fail(i, what)
    }
  }

  grammar(g: Grammar<unknown>): CompiledGrammar {
    const seen = this.done.get(g)
    if (seen) return seen
    // Registered before its rules compile, so a grammar holding a block of itself terminates.
    const out = {
      source: g,
      byLiteral: new Map<string, CompiledRule[]>(),
      other: [] as CompiledRule[],
      starts: [] as string[],
      init: g.init,
      include: g.options.include,
      macros: g.options.macros,
      conditionals: g.options.conditionals,
      condition: undefined as Matcher | undefined,
    }
    this.done.set(g, out)
    if (g.options.include) this.keywords.add('include')
    if (g.options.conditionals) {
      this.keywords.add('if')
      this.keywords.add('else')
      out.condition = conditionMatcher(this)
    }
    const rules: CompiledRule[] = g.rules.map((r) => ({
      match: r.pattern.compile(this),
      builder: r.builder,
      first: r.pattern.first(this),
    }))
    const literals = new Set<string>()
    for (const r of rules) for (const f of r.first ?? []) if (f !== '*') literals.add(f)
    for (const lit of literals) {
      out.byLiteral.set(
        lit,
        rules.filter((r) => r.first === null || r.first.includes(lit)),
      )
    }
    out.byLiteral.set(
      '',
      rules.filter((r) => r.first === null),
    )
    out.other = rules.filter((r) => r.first === null || r.first.includes('*'))
    const starts = [...literals].map((l) => `'${l}'`)
    if (out.other.length > 0) starts.push('value')
    out.starts = starts
    return out
  }
}

/** A predicate over (text, flags), answering the built-in ones from the token's numeric shape. */
function acceptor(p: TokenPredicate): (value: string, flags: number) => boolean {
  if (p === LexerClass.isNumber) return (_v, f) => (f & (INT | QUOTED)) === INT
  if (p === LexerClass.isFloat) return (_v, f) => (f & (FLOAT | QUOTED)) === FLOAT
  if (p === LexerClass.isString) return (_v, f) => (f & QUOTED) !== 0 || (f & (INT | FLOAT)) === 0
  return (v, f) => p(v, (f & QUOTED) !== 0)
}
