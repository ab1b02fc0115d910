/**
 * A diagnostic is one error or warning about the input, located at a file,
 * line and column (both 1-based; column counts UTF-16 code units, tabs as one).
 * A diagnostic about a whole file (cannot open it, bad permissions) has line 0.
 */

export type Severity = 'error' | 'warning'

/** Stable names for what went wrong; callers may branch on them. */
export type DiagnosticCode =
  | 'syntax' // the tokens do not form a statement of the grammar
  | 'lexical' // unterminated string, token too long, stray character
  | 'macro' // undefined, invalid or unused macro
  | 'include' // include cycle, depth, or an included file that cannot be read
  | 'file' // the file itself cannot be read
  | 'insecure' // a secret file readable by others or owned by someone else
  | 'value' // a well-formed statement with a bad value (raised by a builder or expression)
  | 'limit' // too many errors; the rest were not reported

export class Diagnostic {
  constructor(
    readonly severity: Severity,
    readonly code: DiagnosticCode,
    readonly message: string,
    readonly file: string,
    readonly line: number,
    readonly column: number,
    /** The source line the position is on, without its newline, when known. */
    readonly source: string | undefined,
    /** Where each enclosing include statement is, innermost first: `file:line`. */
    readonly includedFrom: readonly string[] = [],
  ) {}

  where(): string {
    return this.line > 0 ? `${this.file}:${this.line}:${this.column}` : this.file
  }

  /** `file:line:col: message`, the source line, a caret under the column, and the include trail. */
  toString(): string {
    const head = `${this.where()}: ${this.severity === 'warning' ? 'warning: ' : ''}${this.message}`
    const out = [head]
    if (this.source !== undefined && this.line > 0) {
      out.push(this.source)
      // Keep tabs so the caret lines up with the source line as a terminal shows it.
      const pad = this.source.slice(0, Math.max(0, this.column - 1)).replace(/[^\t]/g, ' ')
      out.push(`${pad}^`)
    }
    for (const from of this.includedFrom) out.push(`  included from ${from}`)
    return out.join('\n')
  }
}

export function formatDiagnostics(list: readonly Diagnostic[]): string {
  return list.map((d) => d.toString()).join('\n')
}
