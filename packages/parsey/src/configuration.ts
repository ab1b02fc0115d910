import * as path from 'node:path'
import { GrammarCompiler } from './compile.js'
import { Diagnostic } from './diagnostic.js'
import { ConfigurationError, UsageError } from './errors.js'
import { readConfigFile } from './files.js'
import type { Grammar } from './grammar.js'
import type { Lexer } from './lexer.js'
import { Parser } from './parser.js'
import type { CompiledGrammar } from './runtime.js'
import { buildLexTable, type LexTable } from './scanner.js'
import type { Source } from './token.js'

export interface ConfigurationOptions {
  /** How deep `include` may nest. Default 16. */
  maxIncludeDepth?: number
  /** Stop after this many errors. Default 100. */
  maxErrors?: number
}

export type MacroValues = Readonly<Record<string, string | number | boolean>>

export interface ParseOptions {
  /** Macros set by the caller, as a daemon's `-D name=value`: usable as `$name`, and the file cannot redefine them. */
  macros?: MacroValues
  /** Refuse the file (and every file it includes) unless owned by root or the current user and closed to group and others. */
  secret?: boolean
}

export interface ParseStringOptions extends ParseOptions {
  /** The name diagnostics give the text, and the base for relative includes. Default `<string>`. */
  filename?: string
}

export interface ParseResult<S> {
  /** The state the grammar's builders filled. */
  readonly state: S
  /** Warnings (such as unused macros); the parse succeeded anyway. */
  readonly warnings: readonly Diagnostic[]
  /** Real paths of the files read, the top one first, then includes in the order read. */
  readonly files: readonly string[]
}

const MACRO_NAME = /^[A-Za-z0-9_]+$/

interface Compiled {
  readonly table: LexTable
  readonly top: CompiledGrammar
  readonly versions: [Grammar<unknown>, number][]
  readonly lexerVersion: number
  readonly blocks: boolean
}

/**
 * A lexer and a grammar put together. Parses are independent and synchronous;
 * each returns a fresh state, or throws one ConfigurationError listing every
 * error found.
 */
export class Configuration<S> {
  private readonly maxIncludeDepth: number
  private readonly maxErrors: number
  private compiled: Compiled

  constructor(
    readonly lexer: Lexer,
    readonly grammar: Grammar<S>,
    options: ConfigurationOptions = {},
  ) {
    this.maxIncludeDepth = positive(options.maxIncludeDepth ?? 16, 'maxIncludeDepth')
    this.maxErrors = positive(options.maxErrors ?? 100, 'maxErrors')
    this.compiled = this.compile()
  }

  parseFile(file: string, options: ParseOptions = {}): ParseResult<S> {
    if (typeof file !== 'string' || file.length === 0) throw new UsageError('parseFile needs a file path')
    const secret = options.secret === true
    const res = readConfigFile(file, secret)
    if (!res.ok) {
      throw new ConfigurationError([
        fileDiagnostic(res.code === 'insecure' ? 'insecure' : 'file', res.message, file),
      ])
    }
    return this.run(res.text, file, res.realpath, options)
  }

  parseString(text: string, options: ParseStringOptions = {}): ParseResult<S> {
    if (typeof text !== 'string') throw new UsageError('parseString needs a string')
    const filename = options.filename ?? '<string>'
    if (typeof filename !== 'string') throw new UsageError('filename must be a string')
    // Relative includes resolve against the directory the filename names.
    return this.run(text, filename, undefined, options, options.filename)
  }

  private run(
    text: string,
    file: string,
    realpath: string | undefined,
    options: ParseOptions,
    base?: string,
  ): ParseResult<S> {
    const c = this.current()
    const macros = callerMacros(options.macros)
    const root: Source = {
      file,
      path: realpath ?? (base ? pathOf(base) : undefined),
      text,
      pos: 0,
      line: 1,
      lineStart: 0,
      anchor: undefined,
      includedFrom: [],
      macro: undefined,
    }
    const parser = new Parser(
      c.table,
      {
        maxIncludeDepth: this.maxIncludeDepth,
        maxErrors: this.maxErrors,
        secret: options.secret === true,
        macros,
        blocks: c.blocks,
        read: readConfigFile,
      },
      root,
    )
    const state = c.top.init() as S
    const { errors, warnings } = parser.run(c.top, state)
    if (errors.length > 0) throw new ConfigurationError(errors, warnings)
    return { state, warnings, files: realpath ? [realpath, ...parser.files] : parser.files }
  }

  /** Recompiles when the lexer or any grammar involved gained a registration since. */
  private current(): Compiled {
    const c = this.compiled
    const stale = c.lexerVersion !== this.lexer.version || c.versions.some(([g, v]) => g.version !== v)
    if (stale) this.compiled = this.compile()
    return this.compiled
  }

  private compile(): Compiled {
    const compiler = new GrammarCompiler(this.lexer)
    const top = compiler.grammar(this.grammar as Grammar<unknown>)
    return {
      table: buildLexTable(this.lexer, compiler.keywords, compiler.operators),
      top,
      versions: compiler.versions(),
      lexerVersion: this.lexer.version,
      blocks: compiler.usesBlocks,
    }
  }
}

function pathOf(filename: string): string {
  return path.resolve(filename)
}

function fileDiagnostic(code: 'file' | 'insecure', message: string, file: string): Diagnostic {
  return new Diagnostic('error', code, message, file, 0, 0, undefined)
}

function positive(n: number, name: string): number {
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer, not ${n}`)
  return n
}

function callerMacros(m: MacroValues | undefined): Map<string, string> {
  const out = new Map<string, string>()
  if (m === undefined) return out
  if (typeof m !== 'object' || m === null) throw new UsageError('macros must be an object of name -> value')
  for (const [k, v] of Object.entries(m)) {
    if (!MACRO_NAME.test(k))
      throw new UsageError(`invalid macro name '${k}': use letters, digits and underscore`)
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      throw new UsageError(`macro '${k}' must be a string, number or boolean`)
    }
    out.set(k, typeof v === 'boolean' ? (v ? 'yes' : 'no') : String(v))
  }
  return out
}
