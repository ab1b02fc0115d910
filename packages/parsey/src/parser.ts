import * as path from 'node:path'
import { TokenBuffer } from './buffer.js'
import { Diagnostic, type DiagnosticCode, type Severity } from './diagnostic.js'
import type { ReadResult } from './files.js'
import type { RuleContext } from './grammar.js'
import { errorText } from './pattern.js'
import type { CompiledGrammar, Runtime } from './runtime.js'
import { type LexTable, type ScanHost, Scanner } from './scanner.js'
import { BAD, EOF, EOL, KEYWORD, PUNCT, QUOTED, type Source, Tok, type Token } from './token.js'

export interface ParserOptions {
  readonly maxIncludeDepth: number
  readonly maxErrors: number
  readonly secret: boolean
  /** Caller macros (a daemon's -D): the file cannot redefine them. */
  readonly macros: ReadonlyMap<string, string>
  /** Whether the language has blocks; if not, a `{` never spans lines in recovery. */
  readonly blocks: boolean
  readonly read: (file: string, secret: boolean) => ReadResult
}

interface MacroEntry {
  value: string
  used: boolean
  /** Where the file defined it; undefined for caller macros. */
  at: Tok | undefined
}

const MACRO_NAME = /^[A-Za-z0-9_]+$/

/**
 * One parse: a statement loop over the scanner's tokens with parse.y's
 * recovery (on error, report, skip to the end of the statement, go on).
 * Tokens of the statement being parsed are kept in a buffer so patterns can
 * backtrack; the buffer is emptied after each top-level statement.
 */
export class Parser implements Runtime, ScanHost {
  v: unknown = undefined
  depth = 0
  /** The statement's tokens; the scanner appends to it. */
  readonly buf = new TokenBuffer()
  private far = -1
  private expected: string[] = []
  /** Diagnostics from matching; rolled back with the branch that made them. */
  private diags: [number, Diagnostic][] = []
  /** Diagnostics from the lexer and the statement loop's own checks; never rolled back. */
  private fixed: [number, Diagnostic][] = []
  private seq = 0
  private dry = 0
  private readonly macroTable = new Map<string, MacroEntry>()
  private readonly scanner: Scanner
  private readonly ctx: Ctx
  readonly files: string[] = []

  constructor(
    table: LexTable,
    private readonly opts: ParserOptions,
    root: Source,
  ) {
    for (const [k, v] of opts.macros) this.macroTable.set(k, { value: v, used: false, at: undefined })
    this.scanner = new Scanner(table, this, root)
    this.ctx = new Ctx(this)
  }

  /** Parses everything into `state`; returns errors and warnings in input order. */
  run(grammar: CompiledGrammar, state: unknown): { errors: Diagnostic[]; warnings: Diagnostic[] } {
    const buf = this.buf
    for (;;) {
      const f = this.flagsAt(0)
      if (f & EOL) {
        buf.drop(1)
        continue
      }
      if (f & EOF) break
      if (this.errorCount() >= this.opts.maxErrors) {
        this.fixedReport('limit', `too many errors (${this.opts.maxErrors}); stopping here`, this.tok(0))
        break
      }
      const end = this.statement(grammar, state, 0, true, false)
      // The statement's terminator goes too, unless it is the end of input.
      if (buf.flags[end]! & EOF) buf.drop(end)
      else buf.drop(end + 1)
      this.far = -1
      if (this.expected.length > 0) this.expected.length = 0
    }
    for (const [name, m] of this.macroTable) {
      if (m.at && !m.used)
        this.fixedReport('macro', `macro '${name}' is defined but never used`, m.at, 'warning')
    }
    const all = [...this.fixed, ...this.diags].sort((a, b) => a[0] - b[0]).map((e) => e[1])
    return {
      errors: all.filter((d) => d.severity === 'error'),
      warnings: all.filter((d) => d.severity === 'warning'),
    }
  }

  tok(i: number): Tok {
    while (i >= this.buf.count) this.scanner.next()
    return this.buf.tok(i)
  }

  ensure(i: number): void {
    while (i >= this.buf.count) this.scanner.next()
  }

  flagsAt(i: number): number {
    while (i >= this.buf.count) this.scanner.next()
    return this.buf.flags[i]!
  }

  kindAt(i: number): string {
    while (i >= this.buf.count) this.scanner.next()
    return this.buf.kinds[i]!
  }

  valueAt(i: number): string {
    while (i >= this.buf.count) this.scanner.next()
    return this.buf.values[i]!
  }

  fail(i: number, expected: string): -1 {
    if (i < this.far) return -1
    if (i > this.far) {
      this.far = i
      this.expected.length = 0
      this.expected.push(expected)
    } else if (i === this.far && !this.expected.includes(expected)) {
      this.expected.push(expected)
    }
    return -1
  }

  report(code: DiagnosticCode, message: string, at: Tok, severity: Severity = 'error'): void {
    this.diags.push([this.seq++, this.diagnostic(severity, code, message, at)])
  }

  mark(): number {
    return this.diags.length
  }

  rollback(mark: number): void {
    // Setting an array's length is a runtime call even when nothing changes; failures are frequent.
    if (this.diags.length !== mark) this.diags.length = mark
  }

  block(grammar: CompiledGrammar, state: unknown, i: number): number {
    return this.statements(grammar, state, i, false)
  }

  // ScanHost

  lexError(code: 'lexical' | 'macro', message: string, tok: Tok): void {
    this.fixedReport(code, message, tok)
  }

  macro(name: string): string | undefined {
    const m = this.macroTable.get(name)
    if (!m) return undefined
    m.used = true
    return m.value
  }

  /** Statements up to a `}` or the end of input; returns the index of that token (not consumed). */
  private statements(g: CompiledGrammar, state: unknown, i: number, top: boolean): number {
    const far = this.far
    const expected = this.expected
    this.expected = []
    for (;;) {
      const f = this.flagsAt(i)
      if (f & EOL) {
        i++
        continue
      }
      if (f & EOF || (f & PUNCT && this.buf.kinds[i] === '}')) break
      this.far = -1
      if (this.expected.length > 0) this.expected.length = 0
      i = this.statement(g, state, i, top, true)
    }
    this.far = far
    this.expected = expected
    return i
  }

  /** One statement from `i`; returns the index of the token that ends it (newline, end of input, or `}` in a block). */
  private statement(g: CompiledGrammar, state: unknown, i: number, top: boolean, inBlock: boolean): number {
    const flags = this.flagsAt(i)
    const kind = this.buf.kinds[i]!
    if (flags & KEYWORD) {
      if (top && !inBlock && g.include && kind === 'include') return this.include(i)
      if (g.conditionals && kind === 'if') return this.conditional(g, state, i, top, inBlock)
    } else if (top && g.macros && (flags & (PUNCT | QUOTED)) === 0) {
      if (this.flagsAt(i + 1) & PUNCT && this.buf.kinds[i + 1] === '=') return this.macroDefinition(i)
    }
    const rules = flags & (KEYWORD | PUNCT) ? (g.byLiteral.get(kind) ?? g.byLiteral.get('') ?? []) : g.other
    const mark = this.diags.length
    for (const r of rules) {
      const j = r.match(this, i)
      if (j >= 0) {
        const end = this.flagsAt(j)
        if (end & (EOL | EOF) || (inBlock && end & PUNCT && this.buf.kinds[j] === '}')) {
          if (this.dry === 0 && !this.hasErrorSince(mark)) this.build(r.builder, this.v, state, i, j)
          return j
        }
        this.fail(j, 'end of line')
      }
      this.rollback(mark)
    }
    if (rules.length === 0) for (const s of g.starts) this.fail(i, s)
    this.syntaxError(i)
    return this.recover(i, inBlock)
  }

  private build(
    builder: (v: unknown, s: unknown, c: RuleContext) => void,
    values: unknown,
    state: unknown,
    i: number,
    j: number,
  ): void {
    const ctx = this.ctx
    ctx.begin(i, j)
    try {
      builder(values, state, ctx)
    } catch (err) {
      this.report('value', errorText(err), this.tok(i))
    }
    ctx.end()
  }

  private hasErrorSince(mark: number): boolean {
    for (let k = mark; k < this.diags.length; k++) if (this.diags[k]![1].severity === 'error') return true
    return false
  }

  /** Reports what the farthest attempt expected, unless the lexer already complained about a token on the way. */
  private syntaxError(i: number): void {
    const at = Math.max(this.far, i)
    for (let k = i; k <= at; k++) if (this.tok(k).flags & BAD) return
    const t = this.tok(at)
    let prev = at - 1
    while (prev > i && this.tok(prev).flags & EOL) prev--
    const where = at > i ? `after ${this.tok(prev).describe()}` : 'at start of statement'
    const expected = this.expected.length > 0 ? this.expected : ['a statement']
    this.report('syntax', `expected ${oneOf(expected)} ${where}, found ${t.describe()}`, t)
  }

  /**
   * Skips to the end of a broken statement: its newline, or the `}` closing the
   * block it is in. In a language with blocks, a `{` ending its line opens a
   * block, skipped whole; any other `{` left open ends with the line.
   */
  private recover(i: number, inBlock: boolean): number {
    const open: boolean[] = [] // true for a block opener, false for a list
    const at = Math.max(this.far, i)
    for (let k = i; ; k++) {
      const f = this.flagsAt(k)
      if (f & EOF) return k
      if (f & EOL) {
        while (open.length > 0 && !open[open.length - 1]) open.pop()
        if (open.length === 0) return k
      } else if (f & PUNCT) {
        const kind = this.buf.kinds[k]
        // A `{` the grammar did not expect there opens nothing it knows; the line ends it.
        if (kind === '{') open.push(this.opts.blocks && k !== at && (this.flagsAt(k + 1) & EOL) !== 0)
        else if (kind === '}') {
          if (open.length > 0) open.pop()
          else if (inBlock) return k
        }
      }
    }
  }

  private macroDefinition(i: number): number {
    const nameTok = this.tok(i)
    let j = i + 2
    const parts: string[] = []
    for (;;) {
      const t = this.tok(j)
      if (t.flags & (EOL | EOF)) break
      parts.push(t.value)
      j++
    }
    const name = nameTok.value
    if (!MACRO_NAME.test(name)) {
      this.fixedReport('macro', `invalid macro name '${name}': use letters, digits and underscore`, nameTok)
      return j
    }
    if (parts.length === 0) {
      this.fixedReport(
        'syntax',
        `expected a value after '=' in the definition of macro '${name}'`,
        this.tok(j),
      )
      return j
    }
    if (this.dry > 0) return j
    const old = this.macroTable.get(name)
    if (old && !old.at) return j // set by the caller, who has the last word
    if (old?.at && !old.used) {
      this.fixedReport('macro', `macro '${name}' is redefined before it was used`, old.at, 'warning')
    }
    this.macroTable.set(name, { value: parts.join(' '), used: false, at: nameTok })
    return j
  }

  private include(i: number): number {
    const kw = this.tok(i)
    const nameTok = this.tok(i + 1)
    const end = this.tok(i + 2)
    if (nameTok.flags & (PUNCT | EOL | EOF) || !(end.flags & (EOL | EOF))) {
      if (nameTok.flags & (PUNCT | EOL | EOF)) this.fail(i + 1, 'file name')
      else this.fail(i + 2, 'end of line')
      this.syntaxError(i)
      return this.recover(i, false)
    }
    const open = this.scanner.files()
    const parent = open[open.length - 1]!
    const base = parent.path ? path.dirname(parent.path) : process.cwd()
    const target = path.resolve(base, nameTok.value)
    if (open.length > this.opts.maxIncludeDepth) {
      this.fixedReport(
        'include',
        `cannot include '${nameTok.value}': includes nest too deeply (limit ${this.opts.maxIncludeDepth})`,
        nameTok,
      )
      return i + 2
    }
    const res = this.opts.read(target, this.opts.secret)
    if (!res.ok) {
      this.fixedReport(
        res.code === 'insecure' ? 'insecure' : 'include',
        `cannot include '${nameTok.value}': ${res.message}`,
        nameTok,
      )
      return i + 2
    }
    const cycle = open.findIndex((s) => s.path === res.realpath)
    if (cycle >= 0) {
      const chain = [...open.slice(cycle).map((s) => s.file), target].join(' -> ')
      this.fixedReport('include', `include cycle: ${chain}`, nameTok)
      return i + 2
    }
    this.files.push(res.realpath)
    if (end.flags & EOF) this.buf.count = i + 2
    this.scanner.push({
      file: target,
      path: res.realpath,
      text: res.text,
      pos: 0,
      line: 1,
      lineStart: 0,
      anchor: undefined,
      includedFrom: [`${kw.file}:${kw.line}`, ...kw.src.includedFrom],
      macro: undefined,
    })
    return i + 2
  }

  /** `if expr { ... } [else if expr { ... }]... [else { ... }]`; a branch not taken is parsed but builds nothing. */
  private conditional(g: CompiledGrammar, state: unknown, i: number, top: boolean, inBlock: boolean): number {
    let j = i
    let taken = false
    for (;;) {
      const k = g.condition!(this, j + 1)
      if (k < 0) {
        this.syntaxError(i)
        return this.recover(i, inBlock)
      }
      const run: boolean = !taken && this.v === true
      j = this.branch(g, state, k, top, run)
      if (j < 0) return this.recover(i, inBlock)
      taken ||= run
      const t = this.tok(j)
      if (!(t.flags & KEYWORD) || t.kind !== 'else') break
      if (this.tok(j + 1).kind === 'if' && this.tok(j + 1).flags & KEYWORD) {
        j++
        continue
      }
      j = this.branch(g, state, j + 1, top, !taken)
      if (j < 0) return this.recover(i, inBlock)
      break
    }
    const end = this.tok(j)
    if (end.flags & (EOL | EOF) || (inBlock && end.kind === '}' && end.flags & PUNCT)) return j
    this.fail(j, "'else'")
    this.fail(j, 'end of line')
    this.syntaxError(i)
    return this.recover(j, inBlock)
  }

  /** `{ statements }` at `i`; returns the index after `}`, or -1 after reporting. */
  private branch(g: CompiledGrammar, state: unknown, i: number, top: boolean, run: boolean): number {
    const open = this.tok(i)
    if (open.kind !== '{' || !(open.flags & PUNCT)) {
      this.fail(i, "'{'")
      this.syntaxError(i - 1)
      return -1
    }
    if (!run) this.dry++
    this.depth++
    const j = this.statements(g, state, i + 1, top)
    this.depth--
    if (!run) this.dry--
    if (this.tok(j).flags & EOF) {
      this.fixedReport(
        'syntax',
        `expected '}' to close the block opened at line ${open.line}, found end of file`,
        this.tok(j),
      )
      return j
    }
    return j + 1
  }

  private errorCount(): number {
    return this.fixed.length + this.diags.length
  }

  private fixedReport(code: DiagnosticCode, message: string, at: Tok, severity: Severity = 'error'): void {
    this.fixed.push([this.seq++, this.diagnostic(severity, code, message, at)])
  }

  private diagnostic(severity: Severity, code: DiagnosticCode, message: string, at: Tok): Diagnostic {
    const src = at.src
    const text = src.text
    const start = text.lastIndexOf('\n', at.offset - 1) + 1
    let stop = text.indexOf('\n', at.offset)
    if (stop < 0) stop = text.length
    if (stop > start && text.charCodeAt(stop - 1) === 13) stop--
    const full = at.macro ? `${message} (in the expansion of $${at.macro})` : message
    return new Diagnostic(
      severity,
      code,
      full,
      src.file,
      at.line,
      at.column,
      text.slice(start, stop),
      src.includedFrom,
    )
  }

  /** @internal For Ctx. */
  slice(i: number, j: number): Tok[] {
    const out: Tok[] = []
    for (let k = i; k < j; k++) out.push(this.buf.tok(k))
    return out
  }
}

function oneOf(items: readonly string[]): string {
  if (items.length > 8) return `${items.slice(0, 8).join(', ')}, ...`
  if (items.length === 1) return items[0]!
  return `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`
}

/** The RuleContext handed to builders, reused from statement to statement. */
class Ctx implements RuleContext {
  private i = 0
  private j = 0
  private cached: Tok[] | undefined

  constructor(private readonly p: Parser) {}

  begin(i: number, j: number): void {
    this.i = i
    this.j = j
    this.cached = undefined
  }

  end(): void {
    this.cached = undefined
  }

  get tokens(): readonly Token[] {
    this.cached ??= this.p.slice(this.i, this.j)
    return this.cached
  }

  get start(): Token {
    return this.p.tok(this.i)
  }

  error(message: string, at?: Token): void {
    this.p.report('value', String(message), at instanceof Tok ? at : this.p.tok(this.i))
  }

  warn(message: string, at?: Token): void {
    this.p.report('value', String(message), at instanceof Tok ? at : this.p.tok(this.i), 'warning')
  }
}
