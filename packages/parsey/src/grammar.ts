import { UsageError } from './errors.js'
import type { Item, ValuesOf } from './pattern.js'
import { Pattern, seq } from './pattern.js'
import type { Token } from './token.js'

/**
 * What a builder can do besides filling the state. Valid only during the
 * builder call (parsey reuses it for the next statement).
 */
export interface RuleContext {
  /** Every token of the statement, from its first keyword to its end. */
  readonly tokens: readonly Token[]
  /** The statement's first token. */
  readonly start: Token
  /** Rejects the configuration with this message at `at` (default: the statement's start); parsing goes on. */
  error(message: string, at?: Token): void
  /** Adds a warning at `at` (default: the statement's start). */
  warn(message: string, at?: Token): void
}

/**
 * Turns a matched statement into state. `values` holds one value per pattern
 * item: a Token for a token name, the pattern's value otherwise. A builder that
 * throws rejects the configuration with the thrown message at the statement.
 */
export type Builder<S, P extends readonly unknown[]> = (
  values: ValuesOf<P>,
  state: S,
  ctx: RuleContext,
) => void

export interface GrammarOptions<S> {
  /** Makes the fresh state each parse fills (and each block() of this grammar). Default: `{}`. */
  state?: () => S
  /** Accept `include "file"` statements. Default true for top-level use. */
  include?: boolean
  /** Accept `name = value` macro definitions. Default true. */
  macros?: boolean
  /** Accept `if expr { ... } else if expr { ... } else { ... }`. Default false. */
  conditionals?: boolean
}

export interface Rule {
  readonly builder: (values: unknown, state: unknown, ctx: RuleContext) => void
  readonly pattern: Pattern<unknown[]>
}

/**
 * The statements of a configuration language: each rule is a sequence of
 * items and a builder. Rules are tried in registration order; the first that
 * matches a whole statement (up to the end of the line) wins.
 */
export class Grammar<S = Record<string, unknown>> {
  private readonly ruleList: Rule[] = []
  private frozen = false
  private revision = 0
  readonly options: Readonly<Required<Omit<GrammarOptions<S>, 'state'>>>
  readonly init: () => S

  constructor(options: GrammarOptions<S> = {}) {
    this.init = options.state ?? (() => ({}) as S)
    this.options = {
      include: options.include ?? true,
      macros: options.macros ?? true,
      conditionals: options.conditionals ?? false,
    }
  }

  registerRule<const P extends readonly Item[]>(builder: Builder<S, P>, ...pattern: P): this {
    if (this.frozen) throw new UsageError('grammar is frozen; use extend() to add rules')
    if (typeof builder !== 'function') throw new UsageError('registerRule needs a builder function first')
    if (pattern.length === 0) throw new UsageError('a rule needs at least one item')
    for (const item of pattern) {
      if (typeof item !== 'string' && !(item instanceof Pattern)) {
        throw new UsageError(`a rule item must be a token name or a pattern, not ${typeof item}`)
      }
      if (typeof item === 'string' && item.length === 0) throw new UsageError('a token name cannot be empty')
    }
    this.ruleList.push({
      builder: builder as Rule['builder'],
      pattern: seq(...pattern) as Pattern<unknown[]>,
    })
    this.revision++
    return this
  }

  /** Refuse further rules; a frozen grammar can still be extended. */
  freeze(): this {
    this.frozen = true
    return this
  }

  get isFrozen(): boolean {
    return this.frozen
  }

  /**
   * A new, unfrozen grammar with this one's rules (tried first), for a caller
   * that adds statements; this grammar is unchanged. Its state may extend this
   * one's: pass `state` to make it, otherwise this grammar's is used.
   */
  extend<S2 extends S = S>(options: GrammarOptions<S2> = {}): Grammar<S2> {
    const copy = new Grammar<S2>({
      state: options.state ?? (this.init as unknown as () => S2),
      include: options.include ?? this.options.include,
      macros: options.macros ?? this.options.macros,
      conditionals: options.conditionals ?? this.options.conditionals,
    })
    copy.ruleList.push(...this.ruleList)
    return copy
  }

  /** @internal */
  get rules(): readonly Rule[] {
    return this.ruleList
  }

  /** @internal Changes whenever a rule is added, so compiled forms know when to recompile. */
  get version(): number {
    return this.revision
  }
}
