/**
 * @poolp/parsey: OpenBSD parse.y-style configuration languages, declared in
 * TypeScript without code generation.
 *
 * - Lexer: the vocabulary (keywords, operators, token kinds such as STRING).
 * - Grammar: statements, each a sequence of items (token names and patterns)
 *   with a builder that fills a typed state.
 * - Configuration: a lexer and a grammar put together; parseFile/parseString
 *   return the state, or throw one ConfigurationError listing every error.
 * - Patterns: optional, alt, many, list, options, block, typed values
 *   (int, size, duration, bool, string) and expr.
 */

export {
  Configuration,
  type ConfigurationOptions,
  type MacroValues,
  type ParseOptions,
  type ParseResult,
  type ParseStringOptions,
} from './configuration.js'
export { Diagnostic, type DiagnosticCode, formatDiagnostics, type Severity } from './diagnostic.js'
export { ConfigurationError, isParseyError, ParseyError, type ParseyErrorCode, UsageError } from './errors.js'
export { type ExprValue, expr } from './expr.js'
export { type Builder, Grammar, type GrammarOptions, type RuleContext } from './grammar.js'
export { Lexer, type LexerOptions, type TokenPredicate } from './lexer.js'
export {
  alt,
  block,
  type Item,
  type ListOptions,
  list,
  many,
  many1,
  optional,
  options,
  Pattern,
  seq,
  token,
  type ValueOf,
  type ValuesOf,
} from './pattern.js'
export type { Token } from './token.js'
export { bool, duration, int, type RangeOptions, size, string } from './values.js'
