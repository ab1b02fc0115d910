import { type Source, Tok } from './token.js'

/**
 * The tokens of the statement being parsed, stored field by field. Most
 * tokens are only looked at (newlines, list punctuation, values read by
 * int() or string()); a Tok object is made only for a token a builder or a
 * diagnostic gets, which spares the allocation for about half of them.
 */
export class TokenBuffer {
  kinds: string[] = []
  values: string[] = []
  flags = new Int32Array(64)
  lines = new Int32Array(64)
  offsets = new Int32Array(64)
  srcs: Source[] = []
  private objs: (Tok | undefined)[] = []
  count = 0

  push(kind: string, value: string, flags: number, src: Source, line: number, offset: number): number {
    const i = this.count
    if (i === this.flags.length) this.grow()
    this.kinds[i] = kind
    this.values[i] = value
    this.flags[i] = flags
    this.lines[i] = line
    this.offsets[i] = offset
    this.srcs[i] = src
    this.objs[i] = undefined
    this.count = i + 1
    return i
  }

  tok(i: number): Tok {
    let t = this.objs[i]
    if (t === undefined) {
      t = new Tok(
        this.kinds[i]!,
        this.values[i]!,
        this.flags[i]!,
        this.srcs[i]!,
        this.lines[i]!,
        this.offsets[i]!,
      )
      this.objs[i] = t
    }
    return t
  }

  /** Forgets the first `n` tokens, moving the rest down. */
  drop(n: number): void {
    if (n >= this.count) {
      this.count = 0
      return
    }
    const rest = this.count - n
    for (let k = 0; k < rest; k++) {
      this.kinds[k] = this.kinds[k + n]!
      this.values[k] = this.values[k + n]!
      this.flags[k] = this.flags[k + n]!
      this.lines[k] = this.lines[k + n]!
      this.offsets[k] = this.offsets[k + n]!
      this.srcs[k] = this.srcs[k + n]!
      this.objs[k] = this.objs[k + n]
    }
    this.count = rest
  }

  private grow(): void {
    const size = this.flags.length * 2
    const f = new Int32Array(size)
    f.set(this.flags)
    this.flags = f
    const l = new Int32Array(size)
    l.set(this.lines)
    this.lines = l
    const o = new Int32Array(size)
    o.set(this.offsets)
    this.offsets = o
  }
}
