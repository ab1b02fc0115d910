import { UsageError } from './errors.js'
import type { Grammar } from './grammar.js'
import type { Compiler, Matcher, Runtime } from './runtime.js'
import type { Token } from './token.js'
import { EOF, EOL, PUNCT } from './token.js'

/**
 * A piece of grammar that matches tokens and yields a typed value. Patterns are
 * immutable descriptions: the same pattern may appear in many rules and many
 * grammars, and is compiled against a lexer when a Configuration is built.
 */
export abstract class Pattern<T> {
  /** Type-level only: the value this pattern yields. */
  declare readonly __value: T

  /** @internal */
  abstract compile(c: Compiler): Matcher

  /** @internal Literal keys a match can start with ('*' for a non-literal token); null when unknown or possibly empty. */
  first(_c: Compiler): string[] | null {
    return null
  }

  /** A pattern matching the same input and yielding `fn(value, firstToken)`. */
  map<U>(fn: (value: T, at: Token) => U): Pattern<U> {
    return new MapPattern(this, fn)
  }
}

/** A grammar item: a token name (a registered kind such as 'STRING', or a literal such as 'listen' or '=>'), or a pattern. */
export type Item = string | Pattern<unknown>

export type ValueOf<I> = I extends Pattern<infer T> ? T : I extends string ? Token : never
export type ValuesOf<P extends readonly unknown[]> = { -readonly [K in keyof P]: ValueOf<P[K]> }

export function compileItem(c: Compiler, item: Item): Matcher {
  return typeof item === 'string' ? c.terminal(item) : item.compile(c)
}

export function firstOfItem(c: Compiler, item: Item): string[] | null {
  return typeof item === 'string' ? [c.firstOf(item)] : item.first(c)
}

class MapPattern<T, U> extends Pattern<U> {
  constructor(
    private readonly inner: Pattern<T>,
    private readonly fn: (value: T, at: Token) => U,
  ) {
    super()
  }

  compile(c: Compiler): Matcher {
    const inner = this.inner.compile(c)
    const fn = this.fn
    // Most maps ignore the token; making it only for those that declare it spares an allocation.
    const wantsToken = fn.length >= 2
    return (p, i) => {
      const j = inner(p, i)
      if (j < 0) return -1
      try {
        p.v = fn(p.v as T, (wantsToken ? p.tok(i) : undefined) as Token)
      } catch (err) {
        p.report('value', errorText(err), p.tok(i))
        p.v = undefined
      }
      return j
    }
  }

  override first(c: Compiler): string[] | null {
    return this.inner.first(c)
  }
}

export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message
  return String(err)
}

class SeqPattern<T> extends Pattern<T> {
  constructor(readonly items: readonly Item[]) {
    super()
  }

  compile(c: Compiler): Matcher {
    const ms = this.items.map((it) => compileItem(c, it))
    const n = ms.length
    if (n === 1) {
      const m0 = ms[0]!
      return (p, i) => {
        const j = m0(p, i)
        if (j >= 0) p.v = [p.v]
        return j
      }
    }
    return (p, i) => {
      const vals = new Array(n)
      let j = i
      for (let k = 0; k < n; k++) {
        j = ms[k]!(p, j)
        if (j < 0) return -1
        vals[k] = p.v
      }
      p.v = vals
      return j
    }
  }

  override first(c: Compiler): string[] | null {
    const head = this.items[0]
    return head === undefined ? null : firstOfItem(c, head)
  }
}

/** All items in order; yields the tuple of their values. */
export function seq<const P extends readonly Item[]>(...items: P): Pattern<ValuesOf<P>> {
  return new SeqPattern<ValuesOf<P>>(items)
}

class OptionalPattern<T> extends Pattern<T> {
  constructor(
    private readonly item: Item,
    private readonly fallback: unknown,
  ) {
    super()
  }

  compile(c: Compiler): Matcher {
    const m = compileItem(c, this.item)
    const fallback = this.fallback
    return (p, i) => {
      const mark = p.mark()
      const j = m(p, i)
      if (j >= 0) return j
      p.rollback(mark)
      p.v = fallback
      return i
    }
  }
}

/** The item or nothing; yields its value, or `fallback` (undefined unless given). */
export function optional<I extends Item>(item: I): Pattern<ValueOf<I> | undefined>
export function optional<I extends Item, D>(item: I, fallback: D): Pattern<ValueOf<I> | D>
export function optional(item: Item, fallback?: unknown): Pattern<unknown> {
  return new OptionalPattern(item, fallback)
}

class AltPattern<T> extends Pattern<T> {
  constructor(private readonly items: readonly Item[]) {
    super()
  }

  compile(c: Compiler): Matcher {
    const ms = this.items.map((it) => compileItem(c, it))
    return (p, i) => {
      const mark = p.mark()
      for (const m of ms) {
        const j = m(p, i)
        if (j >= 0) return j
        p.rollback(mark)
      }
      return -1
    }
  }

  override first(c: Compiler): string[] | null {
    const out: string[] = []
    for (const it of this.items) {
      const f = firstOfItem(c, it)
      if (f === null) return null
      out.push(...f)
    }
    return out
  }
}

/** The first item that matches, tried in order; yields its value. */
export function alt<const P extends readonly Item[]>(...items: P): Pattern<ValueOf<P[number]>> {
  return new AltPattern<ValueOf<P[number]>>(items)
}

class ManyPattern<T> extends Pattern<T[]> {
  constructor(
    private readonly item: Item,
    private readonly min: number,
  ) {
    super()
  }

  compile(c: Compiler): Matcher {
    const m = compileItem(c, this.item)
    const min = this.min
    return (p, i) => {
      const out: unknown[] = []
      let j = i
      for (;;) {
        const mark = p.mark()
        const k = m(p, j)
        if (k < 0) {
          p.rollback(mark)
          break
        }
        out.push(p.v)
        if (k === j) break // an item that matched nothing would repeat forever
        j = k
      }
      if (out.length < min) return -1
      p.v = out
      return j
    }
  }

  override first(c: Compiler): string[] | null {
    return this.min > 0 ? firstOfItem(c, this.item) : null
  }
}

/** Zero or more repetitions; yields their values. */
export function many<I extends Item>(item: I): Pattern<ValueOf<I>[]> {
  return new ManyPattern<ValueOf<I>>(item, 0)
}

/** One or more repetitions; yields their values. */
export function many1<I extends Item>(item: I): Pattern<ValueOf<I>[]> {
  return new ManyPattern<ValueOf<I>>(item, 1)
}

export interface ListOptions {
  /** Whether one item without braces is accepted as a list of one (parse.y's usual style). Default true. */
  single?: boolean
}

class ListPattern<T> extends Pattern<T[]> {
  constructor(
    private readonly item: Item,
    private readonly single: boolean,
  ) {
    super()
  }

  compile(c: Compiler): Matcher {
    const m = compileItem(c, this.item)
    const open = c.terminal('{')
    const single = this.single
    return (p, i) => {
      if (open(p, i) < 0) {
        if (!single) return -1
        const j = m(p, i)
        if (j >= 0) p.v = [p.v]
        return j
      }
      // Inside braces newlines are free and commas optional: `{ a, b c }`.
      const out: unknown[] = []
      let j = skipNewlines(p, i + 1)
      for (;;) {
        if (out.length > 0 && p.flagsAt(j) & PUNCT && p.kindAt(j) === '}') {
          p.v = out
          return j + 1
        }
        const k = m(p, j)
        if (k < 0) return out.length > 0 ? p.fail(j, "'}'") : -1
        // An item that matches nothing (list(optional(x))) would repeat forever at a stray token.
        if (k === j) return p.fail(j, "'}'")
        out.push(p.v)
        j = skipNewlines(p, k)
        if (p.flagsAt(j) & PUNCT && p.kindAt(j) === ',') j = skipNewlines(p, j + 1)
      }
    }
  }

  override first(c: Compiler): string[] | null {
    const f = firstOfItem(c, this.item)
    if (!this.single) return ['{']
    return f === null ? null : ['{', ...f]
  }
}

function skipNewlines(p: Runtime, i: number): number {
  while (p.flagsAt(i) & EOL) i++
  return i
}

/** `{ a, b c }` (commas optional, newlines allowed) or, unless `single: false`, one bare item; yields the items' values. */
export function list<I extends Item>(item: I, options: ListOptions = {}): Pattern<ValueOf<I>[]> {
  return new ListPattern<ValueOf<I>>(item, options.single ?? true)
}

type OptionValues<R extends Record<string, Item>> = { [K in keyof R]?: ValueOf<R[K]> }

class OptionsPattern<R extends Record<string, Item>> extends Pattern<OptionValues<R>> {
  constructor(private readonly record: R) {
    super()
  }

  compile(c: Compiler): Matcher {
    const keys = Object.keys(this.record)
    if (keys.length > 30) throw new UsageError('options() takes at most 30 items')
    const ms = keys.map((k) => compileItem(c, this.record[k]!))
    const n = keys.length
    return (p, i) => {
      // Values by position, then one object with its keys in declaration order, so
      // statements with the same options present share one object shape.
      const vals = new Array(n)
      let seen = 0
      let j = i
      outer: for (;;) {
        for (let k = 0; k < n; k++) {
          const mark = p.mark()
          const e = ms[k]!(p, j)
          if (e < 0 || e === j) {
            p.rollback(mark)
            continue
          }
          if (seen & (1 << k)) p.report('value', `option '${keys[k]}' given more than once`, p.tok(j))
          seen |= 1 << k
          vals[k] = p.v
          j = e
          continue outer
        }
        break
      }
      const out: Record<string, unknown> = {}
      for (let k = 0; k < n; k++) if (seen & (1 << k)) out[keys[k]!] = vals[k]
      p.v = out
      return j
    }
  }
}

/**
 * Any of the named items, each at most once, in any order: the trailing
 * options of a statement (`listen on lo0 port 25 tls`). Yields an object with
 * the value of each option present.
 */
export function options<R extends Record<string, Item>>(record: R): Pattern<OptionValues<R>> {
  return new OptionsPattern(record)
}

class TokenPattern extends Pattern<Token> {
  constructor(private readonly name: string) {
    super()
  }

  compile(c: Compiler): Matcher {
    return c.terminal(this.name)
  }

  override first(c: Compiler): string[] | null {
    return [c.firstOf(this.name)]
  }
}

/** A token name as a pattern, to `.map()` it: `token('STRING').map((t) => t.value)`. */
export function token(name: string): Pattern<Token> {
  return new TokenPattern(name)
}

const MAX_DEPTH = 64

class BlockPattern<C> extends Pattern<C> {
  constructor(private readonly grammar: Grammar<C>) {
    super()
  }

  compile(c: Compiler): Matcher {
    const open = c.terminal('{')
    c.terminal('}')
    c.usesBlocks = true
    // The compiler hands back a grammar it is still compiling, so a grammar may hold a block of itself.
    const g = c.grammar(this.grammar as Grammar<unknown>)
    return (p, i) => {
      if (open(p, i) < 0) return -1
      if (p.depth >= MAX_DEPTH) {
        p.report('limit', `blocks nest too deeply (limit ${MAX_DEPTH})`, p.tok(i))
        return -1
      }
      const state = g.init()
      p.depth++
      const j = p.block(g, state, i + 1)
      p.depth--
      if (p.flagsAt(j) & EOF) return p.fail(j, "'}'")
      p.v = state
      return j + 1
    }
  }

  override first(): string[] | null {
    return ['{']
  }
}

/**
 * `{ ... }` holding statements of another grammar, one per line, built into a
 * fresh state from that grammar's `state` option; yields that state.
 */
export function block<C>(grammar: Grammar<C>): Pattern<C> {
  return new BlockPattern(grammar)
}
