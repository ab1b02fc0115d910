import type { TokenBuffer } from './buffer.js'
import type { DiagnosticCode, Severity } from './diagnostic.js'
import type { Grammar, RuleContext } from './grammar.js'
import type { Tok } from './token.js'

/**
 * A compiled pattern: tries to match at token index `i` of the current
 * statement and returns the index after the match, or -1. On success the
 * matched value is left in `p.v`. On failure it calls `p.fail` with what it
 * expected, so the parser can name the farthest point any rule reached.
 * A matcher may record diagnostics; whoever swallows a failure (optional,
 * alternatives, repetition) rolls them back with `mark`/`rollback`.
 */
export type Matcher = (p: Runtime, i: number) => number

/** What compiled matchers may use of the parser. */
export interface Runtime {
  /** The value of the last successful match. */
  v: unknown
  /** Token `i` as an object (made on first request). */
  tok(i: number): Tok
  /** The statement's tokens; read a field of token `i` only after `ensure(i)`. */
  readonly buf: TokenBuffer
  /** Lexes up to token `i`. */
  ensure(i: number): void
  /** Fields of token `i`, without making an object. */
  flagsAt(i: number): number
  kindAt(i: number): string
  valueAt(i: number): string
  fail(i: number, expected: string): -1
  report(code: DiagnosticCode, message: string, at: Tok, severity?: Severity): void
  mark(): number
  rollback(mark: number): void
  /** Parse statements of `grammar` into `state` from `i` until `}` or end of input; returns that token's index. */
  block(grammar: CompiledGrammar, state: unknown, i: number): number
  /** Current nesting of blocks and parentheses, guarded against stack exhaustion. */
  depth: number
}

export interface CompiledRule {
  readonly match: Matcher
  readonly builder: (values: unknown, state: unknown, ctx: RuleContext) => void
  /** Literal keys this rule can start with; null when it can start with anything. */
  readonly first: readonly string[] | null
}

export interface CompiledGrammar {
  readonly source: Grammar<unknown>
  /** Rules by the literal a statement starts with, in registration order, including rules that start with anything. */
  readonly byLiteral: ReadonlyMap<string, readonly CompiledRule[]>
  /** Rules for a statement starting with a non-literal token. */
  readonly other: readonly CompiledRule[]
  /** A short list of what a statement may start with, for messages. */
  readonly starts: readonly string[]
  readonly init: () => unknown
  readonly include: boolean
  readonly macros: boolean
  readonly conditionals: boolean
  /** Compiled once per grammar that allows conditionals. */
  readonly condition: Matcher | undefined
}

/** What patterns need while being compiled against a lexer. */
export interface Compiler {
  /** A matcher for a string item: a registered kind (STRING) or a literal (keyword or operator, registered on the fly). */
  terminal(name: string): Matcher
  /** The literal key a string item stands for, or '*' for a kind. */
  firstOf(name: string): string
  operator(op: string): void
  grammar(g: Grammar<unknown>): CompiledGrammar
  /** Noted by block(): error recovery skips whole blocks only in languages that have them. */
  usesBlocks: boolean
}
