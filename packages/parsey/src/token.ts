/**
 * A token as builders see it: what the lexer read, what kind it was given,
 * and where it came from. Tokens produced by a macro expansion carry the
 * position of the `$name` that produced them, and the macro's name.
 */
export interface Token {
  /** A registered keyword or punctuation (the text itself), a matcher kind such as 'STRING', or '' when no matcher accepted it. */
  readonly kind: string
  /** The text, without quotes, escapes resolved. */
  readonly value: string
  /** Whether the token was written between quotes; quoted text is never a keyword. */
  readonly quoted: boolean
  readonly file: string
  /** 1-based line and column (column in UTF-16 code units, a tab counts as one). */
  readonly line: number
  readonly column: number
  /** The macro this token was expanded from, if any. */
  readonly macro: string | undefined
}

/** Where a token's text came from: a file, a string, or a macro's value. */
export interface Source {
  readonly file: string
  /** Real path of a file, used to detect include cycles; undefined for strings and macros. */
  readonly path: string | undefined
  readonly text: string
  pos: number
  line: number
  lineStart: number
  /** For a macro's value: the `$name` token every expanded token is placed at. */
  readonly anchor: Tok | undefined
  /** `file:line` of each include statement that led here, innermost first. */
  readonly includedFrom: readonly string[]
  /** Set on the source tokens of a macro expansion point to: the macro's name. */
  readonly macro: string | undefined
}

export const KEYWORD = 1
export const PUNCT = 2
export const QUOTED = 4
export const EOL = 8
export const EOF = 16
/** The lexer already reported an error about this token; a parse error on it would only repeat that. */
export const BAD = 32
export const INT = 64
export const FLOAT = 128

export const EOL_KIND = '<newline>'
export const EOF_KIND = '<eof>'

/**
 * Kept small (six fields): a parse makes one per token. The column and the
 * macro name are derived on demand from the offset and the source.
 */
export class Tok implements Token {
  constructor(
    readonly kind: string,
    readonly value: string,
    readonly flags: number,
    readonly src: Source,
    readonly line: number,
    /** Offset of the token's first character in `src.text`. */
    readonly offset: number,
  ) {}

  get file(): string {
    return this.src.file
  }

  /** Counted from the start of the physical line the token starts on. */
  get column(): number {
    return this.offset - this.src.text.lastIndexOf('\n', this.offset - 1)
  }

  get macro(): string | undefined {
    return this.src.macro
  }

  get quoted(): boolean {
    return (this.flags & QUOTED) !== 0
  }

  /** How an error message names this token. */
  describe(): string {
    if (this.flags & EOL) return 'end of line'
    if (this.flags & EOF) return 'end of file'
    const v = this.value.length > 40 ? `${this.value.slice(0, 37)}...` : this.value
    return this.flags & QUOTED ? `"${v}"` : `'${v}'`
  }
}

/** INT for `-?[0-9]+`, FLOAT for `-?[0-9]+.[0-9]+`, else 0. Cheap: most words fail on the first character. */
export function numericShape(v: string): number {
  const n = v.length
  let i = 0
  if (n === 0) return 0
  if (v.charCodeAt(0) === 45 /* - */) {
    i = 1
    if (n === 1) return 0
  }
  let c = v.charCodeAt(i)
  if (c < 48 || c > 57) return 0
  let dot = -1
  for (i++; i < n; i++) {
    c = v.charCodeAt(i)
    if (c >= 48 && c <= 57) continue
    if (c === 46 && dot < 0) {
      dot = i
      continue
    }
    return 0
  }
  if (dot < 0) return INT
  return dot === n - 1 ? 0 : FLOAT
}
