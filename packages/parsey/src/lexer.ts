import { UsageError } from './errors.js'
import { FLOAT, INT, numericShape } from './token.js'

/**
 * Decides whether a token is of a kind. `quoted` tells whether the text was
 * written between quotes. Predicates must be pure: parsey may call one more
 * than once for the same token, or not at all when the lexer already knows.
 */
export type TokenPredicate = (value: string, quoted: boolean) => boolean

export interface LexerOptions {
  /** Longest token accepted, in characters; longer ones are an error. Default 8192. */
  maxTokenLength?: number
}

/** Characters that are tokens on their own and end a bare word, as in parse.y. */
export const PUNCTUATION = '{},=()<>!'
const WORD_ILLEGAL = /[\s"'#$\\]/

/**
 * The vocabulary of a configuration language: keywords, operators made of
 * punctuation (such as `=>`), and named kinds decided by predicates.
 *
 * A bare word is a keyword when registered as one. Otherwise it, and any quoted
 * string, gets the first registered kind whose predicate accepts it; a grammar
 * that asks for another kind still matches when that kind's predicate accepts
 * the token too. Literal words and operators used in a grammar are registered
 * as keywords automatically when a Configuration is built.
 */
export class Lexer {
  readonly maxTokenLength: number
  private readonly keywords = new Set<string>()
  private readonly operators = new Set<string>()
  private readonly matchers: { kind: string; predicate: TokenPredicate }[] = []
  private frozen = false
  private revision = 0

  constructor(options: LexerOptions = {}) {
    const max = options.maxTokenLength ?? 8192
    if (!Number.isInteger(max) || max < 1)
      throw new UsageError(`maxTokenLength must be a positive integer, not ${max}`)
    this.maxTokenLength = max
  }

  /** `-?[0-9]+`, unquoted. */
  static isNumber(this: void, value: string, quoted = false): boolean {
    return !quoted && numericShape(value) === INT
  }

  /** `-?[0-9]+.[0-9]+`, unquoted. */
  static isFloat(this: void, value: string, quoted = false): boolean {
    return !quoted && numericShape(value) === FLOAT
  }

  /** Anything quoted, and any bare word that is not a number. */
  static isString(this: void, value: string, quoted = false): boolean {
    return quoted || numericShape(value) === 0
  }

  /** A keyword (`listen`) or an operator made only of punctuation (`=>`, `<=`). */
  registerToken(text: string): this {
    this.assertOpen()
    classifyLiteral(text)
    if (isOperator(text)) this.operators.add(text)
    else this.keywords.add(text)
    this.revision++
    return this
  }

  /** A named kind of token (STRING, NUMBER, ...) decided by a predicate. Order matters: first accepting kind wins. */
  registerTokenMatch(kind: string, predicate: TokenPredicate): this {
    this.assertOpen()
    if (typeof kind !== 'string' || kind.length === 0)
      throw new UsageError('a token kind needs a non-empty name')
    if (typeof predicate !== 'function') throw new UsageError(`token kind ${kind} needs a predicate function`)
    if (this.matchers.some((m) => m.kind === kind))
      throw new UsageError(`token kind ${kind} is already registered`)
    this.matchers.push({ kind, predicate })
    this.revision++
    return this
  }

  /** Refuse further registrations; a frozen lexer can still be extended. */
  freeze(): this {
    this.frozen = true
    return this
  }

  get isFrozen(): boolean {
    return this.frozen
  }

  /** A new, unfrozen lexer with this one's vocabulary; this one is unchanged. */
  extend(options: LexerOptions = {}): Lexer {
    const copy = new Lexer({ maxTokenLength: options.maxTokenLength ?? this.maxTokenLength })
    for (const k of this.keywords) copy.keywords.add(k)
    for (const o of this.operators) copy.operators.add(o)
    copy.matchers.push(...this.matchers)
    return copy
  }

  /** @internal Changes with every registration, so compiled forms know when to recompile. */
  get version(): number {
    return this.revision
  }

  /** Whether `kind` names a registered matcher. */
  hasKind(kind: string): boolean {
    return this.matchers.some((m) => m.kind === kind)
  }

  /** @internal A snapshot the scanner works from. */
  snapshot(): {
    keywords: Set<string>
    operators: Set<string>
    matchers: { kind: string; predicate: TokenPredicate }[]
  } {
    return {
      keywords: new Set(this.keywords),
      operators: new Set(this.operators),
      matchers: [...this.matchers],
    }
  }

  private assertOpen(): void {
    if (this.frozen) throw new UsageError('lexer is frozen; use extend() to add to it')
  }
}

export function isOperator(text: string): boolean {
  for (const ch of text) if (!PUNCTUATION.includes(ch)) return false
  return true
}

/** Throws unless `text` can be lexed back as one token: all word characters, or all punctuation. */
export function classifyLiteral(text: string): 'keyword' | 'operator' {
  if (typeof text !== 'string' || text.length === 0) throw new UsageError('a token needs non-empty text')
  if (isOperator(text)) return 'operator'
  for (const ch of text) {
    if (PUNCTUATION.includes(ch) || WORD_ILLEGAL.test(ch)) {
      throw new UsageError(
        `'${text}' cannot be a token: mix of word characters and punctuation or whitespace`,
      )
    }
  }
  return 'keyword'
}
