import type { TokenBuffer } from './buffer.js'
import type { TokenPredicate } from './lexer.js'
import { Lexer } from './lexer.js'
import {
  BAD,
  EOF,
  EOF_KIND,
  EOL,
  EOL_KIND,
  FLOAT,
  INT,
  KEYWORD,
  numericShape,
  PUNCT,
  QUOTED,
  type Source,
  Tok,
} from './token.js'

/** The compiled vocabulary the scanner classifies words with. */
export interface LexTable {
  readonly keywords: ReadonlyMap<string, string>
  /** Keywords by `wordHash(keyword) & KEYWORD_MASK`, so a scanned keyword is found without slicing it out. */
  readonly keywordBuckets: readonly (readonly string[] | undefined)[]
  /** Multi-character operators by first character code, longest first. */
  readonly operators: ReadonlyMap<number, readonly string[]>
  readonly matchers: readonly { kind: string; predicate: TokenPredicate }[]
  readonly maxTokenLength: number
}

/** What the scanner needs from its parser: where errors go, and the macro table. */
export interface ScanHost {
  lexError(code: 'lexical' | 'macro', message: string, tok: Tok): void
  /** Where tokens go: the scanner appends exactly one per next(). */
  readonly buf: TokenBuffer
  /** The value of a macro, marking it used; undefined when not defined. */
  macro(name: string): string | undefined
}

// Character classes for ASCII; everything from 128 up is a word character.
const WORD = 0
const SPACE = 1
const NEWLINE = 2
const QUOTE = 3
const HASH = 4
const PUNCTUATION = 5
const BACKSLASH = 6
const DOLLAR = 7
const CLASS = new Uint8Array(128)
for (const ch of ' \t\r\f\v') CLASS[ch.charCodeAt(0)] = SPACE
CLASS[10] = NEWLINE
CLASS[34] = QUOTE
CLASS[39] = QUOTE
CLASS[35] = HASH
for (const ch of '{},=()<>!') CLASS[ch.charCodeAt(0)] = PUNCTUATION
CLASS[92] = BACKSLASH
CLASS[36] = DOLLAR

const MAX_MACRO_NESTING = 32
const KEYWORD_MASK = 1023

/** Whether `text` holds `kw` at `start` (the caller checked the length); cheaper than startsWith for short keywords. */
function sameAt(text: string, start: number, kw: string): boolean {
  for (let k = 0; k < kw.length; k++) if (text.charCodeAt(start + k) !== kw.charCodeAt(k)) return false
  return true
}

function wordHash(text: string): number {
  let h = 0
  for (let i = 0; i < text.length; i++) h = (Math.imul(h, 31) + text.charCodeAt(i)) | 0
  return h
}

/**
 * Turns sources into tokens the way OpenBSD's parse.y lexer does, one token
 * per call. Sources form a stack: an include or a macro expansion pushes one,
 * and its end pops it (an included file's end also ends the current statement).
 */
export class Scanner {
  private readonly stack: Source[] = []
  private src!: Source
  private macroDepth = 0
  private readonly buf: TokenBuffer
  /** Per matcher: 1 isString, 2 isNumber, 3 isFloat (answered from flags), 0 call the predicate. */
  private readonly modes: Uint8Array

  constructor(
    private readonly table: LexTable,
    private readonly host: ScanHost,
    root: Source,
  ) {
    this.buf = host.buf
    this.push(root)
    this.modes = Uint8Array.from(table.matchers, (m) =>
      m.predicate === Lexer.isString
        ? 1
        : m.predicate === Lexer.isNumber
          ? 2
          : m.predicate === Lexer.isFloat
            ? 3
            : 0,
    )
  }

  push(source: Source): void {
    this.stack.push(source)
    this.src = source
    if (source.anchor) this.macroDepth++
  }

  /** The file sources currently open, outermost first (for include cycle checks). */
  files(): readonly Source[] {
    return this.stack.filter((s) => !s.anchor)
  }

  /** Appends the next token to the host's buffer. */
  next(): void {
    for (;;) {
      const src = this.src
      const text = src.text
      const len = text.length
      let pos = src.pos
      while (pos < len) {
        const c = text.charCodeAt(pos)
        const cls = c < 128 ? CLASS[c] : WORD
        if (cls === SPACE) {
          pos++
          continue
        }
        if (cls === NEWLINE) {
          this.make(EOL_KIND, '\n', EOL, pos)
          src.pos = pos + 1
          src.line++
          src.lineStart = pos + 1
          return
        }
        if (cls === HASH) {
          const nl = text.indexOf('\n', pos)
          pos = nl < 0 ? len : nl
          continue
        }
        if (cls === BACKSLASH && this.isContinuation(text, pos)) {
          pos = this.skipContinuation(src, text, pos)
          continue
        }
        src.pos = pos
        if (cls === WORD || cls === BACKSLASH) return void this.word(src, text, pos)
        if (cls === QUOTE) return void this.quoted(src, text, pos, c)
        if (cls === PUNCTUATION) return void this.punctuation(src, text, pos, c)
        // DOLLAR: a macro reference; an expansion pushes a source and scanning goes on there.
        if (this.dollar(src, text, pos)) return
        break
      }
      if (pos < len) continue
      src.pos = len
      if (this.stack.length === 1) return void this.make(EOF_KIND, '', EOF, len)
      this.stack.pop()
      this.src = this.stack[this.stack.length - 1]!
      if (src.anchor) {
        this.macroDepth--
        continue
      }
      // The end of an included file ends whatever statement it left open.
      this.buf.push(EOL_KIND, '\n', EOL, src, src.line, len)
      return
    }
  }

  /** Appends a token at `offset` of the current source (or at the macro reference it expands); returns its index. */
  private make(kind: string, value: string, flags: number, offset: number): number {
    const src = this.src
    const a = src.anchor
    if (a) return this.buf.push(kind, value, flags, a.src, a.line, a.offset)
    return this.buf.push(kind, value, flags, src, src.line, offset)
  }

  private isContinuation(text: string, pos: number): boolean {
    const n = text.charCodeAt(pos + 1)
    return n === 10 || (n === 13 && text.charCodeAt(pos + 2) === 10)
  }

  private skipContinuation(src: Source, text: string, pos: number): number {
    const next = text.charCodeAt(pos + 1) === 13 ? pos + 3 : pos + 2
    src.line++
    src.lineStart = next
    return next
  }

  private word(src: Source, text: string, start: number): number {
    const len = text.length
    let pos = start
    let c = 0
    let h = 0
    for (; pos < len; pos++) {
      c = text.charCodeAt(pos)
      if (c < 128) {
        const cls = CLASS[c]
        if (cls !== WORD && cls !== DOLLAR) break
      }
      h = (Math.imul(h, 31) + c) | 0
    }
    if (pos < len && c === 92) return this.slowWord(src, text, start)
    const n = pos - start
    const bucket = this.table.keywordBuckets[h & KEYWORD_MASK]
    if (bucket !== undefined) {
      for (let b = 0; b < bucket.length; b++) {
        const kw = bucket[b]!
        if (kw.length === n && sameAt(text, start, kw)) {
          src.pos = pos
          return this.make(kw, kw, KEYWORD, start)
        }
      }
    }
    let value = text.slice(start, pos)
    let flags = 0
    if (n > this.table.maxTokenLength) {
      value = value.slice(0, this.table.maxTokenLength)
      flags = BAD
    }
    flags |= numericShape(value)
    const t = this.make(this.kindOf(value, flags), value, flags, start)
    src.pos = pos
    if (flags & BAD) this.tooLong(t)
    return t
  }

  /** A bare word holding backslashes: `\` + newline joins lines, `\` + any other character is that character. */
  private slowWord(src: Source, text: string, start: number): number {
    const len = text.length
    const line = src.line
    const lineStart = src.lineStart
    let pos = start
    let value = ''
    while (pos < len) {
      const c = text.charCodeAt(pos)
      if (c === 92) {
        if (this.isContinuation(text, pos)) {
          pos = this.skipContinuation(src, text, pos)
          continue
        }
        if (pos + 1 < len) value += text[pos + 1]
        pos += 2
        continue
      }
      if (c < 128 && CLASS[c] !== WORD && CLASS[c] !== DOLLAR) break
      value += text[pos]
      pos++
    }
    const curLine = src.line
    const curStart = src.lineStart
    src.line = line
    src.lineStart = lineStart
    let flags = 0
    if (value.length > this.table.maxTokenLength) {
      value = value.slice(0, this.table.maxTokenLength)
      flags = BAD
    }
    const t = this.classified(value, flags, start)
    src.line = curLine
    src.lineStart = curStart
    src.pos = pos
    if (flags & BAD) this.tooLong(t)
    return t
  }

  private classified(value: string, flags: number, offset: number): number {
    const kw = this.table.keywords.get(value)
    if (kw !== undefined) return this.make(kw, value, flags | KEYWORD, offset)
    flags |= numericShape(value)
    return this.make(this.kindOf(value, flags), value, flags, offset)
  }

  /** The first matcher accepting the token; built-in predicates are answered from the numeric shape. */
  private kindOf(value: string, flags: number): string {
    const quoted = (flags & QUOTED) !== 0
    const matchers = this.table.matchers
    const modes = this.modes
    for (let k = 0; k < modes.length; k++) {
      const mode = modes[k]
      let ok: boolean
      if (mode === 1) ok = quoted || (flags & (INT | FLOAT)) === 0
      else if (mode === 2) ok = !quoted && (flags & INT) !== 0
      else if (mode === 3) ok = !quoted && (flags & FLOAT) !== 0
      else ok = matchers[k]!.predicate(value, quoted)
      if (ok) return matchers[k]!.kind
    }
    return ''
  }

  private quoted(src: Source, text: string, start: number, quote: number): number {
    const len = text.length
    let pos = start + 1
    // Fast path: no escapes, no newline before the closing quote.
    for (; pos < len; pos++) {
      const c = text.charCodeAt(pos)
      if (c === quote || c === 92 || c === 10) break
    }
    if (pos < len && text.charCodeAt(pos) === quote) {
      return this.finishQuoted(src, text.slice(start + 1, pos), 0, start, pos + 1)
    }
    return this.slowQuoted(src, text, start, quote)
  }

  /**
   * parse.y's rules: `\` before the quote, a space or a tab gives that character,
   * `\` + newline continues the string on the next line, `\\` gives one backslash
   * (parse.y keeps both), any other `\` is kept as is. A bare newline ends the
   * string with an error.
   */
  private slowQuoted(src: Source, text: string, start: number, quote: number): number {
    const len = text.length
    const line = src.line
    const lineStart = src.lineStart
    let pos = start + 1
    let value = ''
    let flags = 0
    for (;;) {
      if (pos >= len || text.charCodeAt(pos) === 10) {
        flags = BAD
        break
      }
      const c = text.charCodeAt(pos)
      if (c === quote) {
        pos++
        break
      }
      if (c === 92) {
        const n = text.charCodeAt(pos + 1)
        if (this.isContinuation(text, pos)) {
          pos = this.skipContinuation(src, text, pos)
          continue
        }
        if (n === quote || n === 32 || n === 9 || n === 92) {
          value += text[pos + 1]
          pos += 2
          continue
        }
      }
      value += text[pos]
      pos++
    }
    const curLine = src.line
    const curStart = src.lineStart
    src.line = line
    src.lineStart = lineStart
    const t = this.finishQuoted(src, value, flags, start, pos)
    src.line = curLine
    src.lineStart = curStart
    if (flags & BAD) this.host.lexError('lexical', 'unterminated quoted string', this.buf.tok(t))
    return t
  }

  private finishQuoted(src: Source, value: string, flags: number, start: number, end: number): number {
    let v = value
    let f = flags | QUOTED
    const tooLong = v.length > this.table.maxTokenLength
    if (tooLong) {
      v = v.slice(0, this.table.maxTokenLength)
      f |= BAD
    }
    const t = this.make(this.kindOf(v, f), v, f, start)
    src.pos = end
    if (tooLong) this.tooLong(t)
    return t
  }

  private tooLong(t: number): void {
    this.host.lexError(
      'lexical',
      `token too long (more than ${this.table.maxTokenLength} characters)`,
      this.buf.tok(t),
    )
  }

  private punctuation(src: Source, text: string, pos: number, c: number): number {
    const ops = this.table.operators.get(c)
    if (ops) {
      for (const op of ops) {
        if (text.startsWith(op, pos)) {
          const t = this.make(op, op, PUNCT, pos)
          src.pos = pos + op.length
          return t
        }
      }
    }
    const ch = text[pos]!
    const t = this.make(ch, ch, PUNCT, pos)
    src.pos = pos + 1
    return t
  }

  /** `$name` outside quotes: push the macro's value as a new source (false), or append a bad token and report (true). */
  private dollar(src: Source, text: string, start: number): boolean {
    const len = text.length
    let pos = start + 1
    for (; pos < len; pos++) {
      const c = text.charCodeAt(pos)
      const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95
      if (!ok) break
    }
    const name = text.slice(start + 1, pos)
    const ref = text.slice(start, pos)
    src.pos = pos
    const bad = (code: 'lexical' | 'macro', message: string): true => {
      const i = this.make('', ref, BAD, start)
      this.host.lexError(code, message, this.buf.tok(i))
      return true
    }
    if (name.length === 0)
      return bad('macro', "'$' must be followed by a macro name (letters, digits, underscore)")
    const value = this.host.macro(name)
    if (value === undefined) return bad('macro', `undefined macro '${name}'`)
    if (this.macroDepth >= MAX_MACRO_NESTING)
      return bad('macro', `macro '${name}' nests too deeply (does it refer to itself?)`)
    // Expanded tokens sit at the reference, in a source naming the (outermost) macro.
    const outer = src.anchor
    const anchor = outer
      ? new Tok('', ref, 0, outer.src, outer.line, outer.offset)
      : new Tok('', ref, 0, { ...src, macro: name }, src.line, start)
    this.push({
      file: src.file,
      path: undefined,
      text: value,
      pos: 0,
      line: 1,
      lineStart: 0,
      anchor,
      includedFrom: src.includedFrom,
      macro: name,
    })
    return false
  }
}

/** Builds the scanner's table from a lexer plus the literals a grammar uses. */
export function buildLexTable(
  lexer: Lexer,
  keywords: Iterable<string>,
  operators: Iterable<string>,
): LexTable {
  const snap = lexer.snapshot()
  const kw = new Map<string, string>()
  for (const k of snap.keywords) kw.set(k, k)
  for (const k of keywords) kw.set(k, k)
  const allOps = new Set([...snap.operators, ...operators])
  const ops = new Map<number, string[]>()
  for (const op of allOps) {
    if (op.length < 2) continue
    const c = op.charCodeAt(0)
    const list = ops.get(c) ?? []
    list.push(op)
    list.sort((a, b) => b.length - a.length)
    ops.set(c, list)
  }
  const buckets: string[][] = []
  for (const k of kw.keys()) {
    const h = wordHash(k) & KEYWORD_MASK
    buckets[h] ??= []
    buckets[h].push(k)
  }
  return {
    keywords: kw,
    keywordBuckets: buckets,
    operators: ops,
    matchers: snap.matchers,
    maxTokenLength: lexer.maxTokenLength,
  }
}
