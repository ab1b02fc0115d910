import { Pattern } from './pattern.js'
import type { Compiler, Matcher, Runtime } from './runtime.js'
import { EOF, EOL, INT, KEYWORD, PUNCT, QUOTED } from './token.js'

/**
 * Typed values. They read a token's text whatever kind the lexer gave it (a
 * value such as `10M` or `yes` needs no registration), and fail with a
 * message naming the accepted form, so a bad value reads as
 * "expected size (such as 512K, 10M, 2G) after 'max-size', found '10Q'".
 */

export interface RangeOptions {
  min?: number
  max?: number
}

/** Whether token `i` can hold a value: not punctuation, not the end of a line, quoted only if allowed. */
function holdsValue(p: Runtime, i: number, quotedOk: boolean): boolean {
  const f = p.flagsAt(i)
  if (f & (PUNCT | EOL | EOF)) return false
  return quotedOk || (f & QUOTED) === 0
}

function rangeText(what: string, o: RangeOptions, unit: (n: number) => string = String): string {
  if (o.min !== undefined && o.max !== undefined) return `${what} between ${unit(o.min)} and ${unit(o.max)}`
  if (o.min !== undefined) return `${what} of at least ${unit(o.min)}`
  if (o.max !== undefined) return `${what} of at most ${unit(o.max)}`
  return what
}

function inRange(n: number, o: RangeOptions): boolean {
  return (o.min === undefined || n >= o.min) && (o.max === undefined || n <= o.max)
}

abstract class ValuePattern<T> extends Pattern<T> {
  protected abstract readonly what: string
  protected readonly quotedOk: boolean = false
  /** The value of `text` (a token with these flags), or undefined when it is not one. */
  protected abstract convert(text: string, flags: number): T | undefined

  compile(_c: Compiler): Matcher {
    const what = this.what
    const quotedOk = this.quotedOk
    return (p, i) => {
      const v = holdsValue(p, i, quotedOk) ? this.convert(p.buf.values[i]!, p.buf.flags[i]!) : undefined
      if (v === undefined) return p.fail(i, what)
      p.v = v
      return i + 1
    }
  }
}

class IntPattern extends ValuePattern<number> {
  protected readonly what: string
  constructor(private readonly range: RangeOptions) {
    super()
    this.what = rangeText('integer', range)
  }

  protected convert(text: string, flags: number): number | undefined {
    if (!(flags & INT)) return undefined
    const n = Number(text)
    return Number.isSafeInteger(n) && inRange(n, this.range) ? n : undefined
  }
}

/** An integer (`-?[0-9]+`), optionally within a range. */
export function int(range: RangeOptions = {}): Pattern<number> {
  return new IntPattern(range)
}

/** `[0-9]+(.[0-9]+)?` then an optional K, M, G or T, then an optional B, any case; no regex, no allocation. */
function parseSize(text: string): number | undefined {
  const n = text.length
  let i = 0
  let whole = 0
  while (i < n && isDigit(text.charCodeAt(i))) whole = whole * 10 + (text.charCodeAt(i++) - 48)
  if (i === 0) return undefined
  let value = whole
  if (i < n && text.charCodeAt(i) === 46) {
    const start = ++i
    while (i < n && isDigit(text.charCodeAt(i))) i++
    if (i === start) return undefined
    value = Number(text.slice(0, i))
  }
  let scale = 1
  if (i < n) {
    const f = SUFFIX.get(text.charCodeAt(i) | 0x20)
    if (f !== undefined) {
      scale = f
      i++
    }
  }
  if (i < n && (text.charCodeAt(i) | 0x20) === 98 /* b */) i++
  if (i !== n) return undefined
  const bytes = Math.round(value * scale)
  return Number.isSafeInteger(bytes) ? bytes : undefined
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57
}

const SUFFIX = new Map([
  [107, 1024], // k
  [109, 1024 ** 2], // m
  [103, 1024 ** 3], // g
  [116, 1024 ** 4], // t
])
const SCALE: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }

function sizeText(n: number): string {
  for (const s of ['T', 'G', 'M', 'K']) {
    const f = SCALE[s]!
    if (n >= f && n % f === 0) return `${n / f}${s}`
  }
  return String(n)
}

class SizePattern extends ValuePattern<number> {
  protected readonly what: string
  constructor(private readonly range: RangeOptions) {
    super()
    this.what = rangeText('size (such as 512K, 10M, 2G)', range, sizeText)
  }

  protected convert(text: string): number | undefined {
    const n = parseSize(text)
    if (n === undefined) return undefined
    return inRange(n, this.range) ? n : undefined
  }
}

/** A size in bytes: a number with an optional K, M, G or T suffix (powers of 1024, an optional trailing B, any case). */
export function size(range: RangeOptions = {}): Pattern<number> {
  return new SizePattern(range)
}

function durationText(ms: number): string {
  for (const [u, f] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= f && ms % f === 0) return `${ms / f}${u}`
  }
  return `${ms}ms`
}

class DurationPattern extends ValuePattern<number> {
  protected readonly what: string
  constructor(private readonly range: RangeOptions) {
    super()
    this.what = rangeText('duration (such as 30s, 5m, 4h, 1d)', range, durationText)
  }

  protected convert(text: string, flags: number): number | undefined {
    const ms = flags & INT ? Number(text) * 1000 : parseDuration(text)
    return ms !== undefined && Number.isSafeInteger(ms) && ms >= 0 && inRange(ms, this.range) ? ms : undefined
  }
}

/** One or more `[0-9]+(ms|s|m|h|d|w)`; no regex, no allocation. */
function parseDuration(text: string): number | undefined {
  const n = text.length
  let i = 0
  let total = 0
  while (i < n) {
    const start = i
    let v = 0
    while (i < n && isDigit(text.charCodeAt(i))) v = v * 10 + (text.charCodeAt(i++) - 48)
    if (i === start || i === n) return undefined
    const u = text.charCodeAt(i++)
    let f: number
    if (u === 109 /* m */ && text.charCodeAt(i) === 115 /* s */) {
      f = 1
      i++
    } else if (u === 115) f = 1000
    else if (u === 109) f = 60_000
    else if (u === 104) f = 3_600_000
    else if (u === 100) f = 86_400_000
    else if (u === 119) f = 604_800_000
    else return undefined
    total += v * f
  }
  return n === 0 ? undefined : total
}

/**
 * A duration, yielded in milliseconds: `30s`, `5m`, `4h`, `1d`, `2w`, `250ms`,
 * or a sum such as `1h30m`; a bare integer counts seconds, as in smtpd.conf.
 * Range bounds are in milliseconds.
 */
export function duration(range: RangeOptions = {}): Pattern<number> {
  return new DurationPattern(range)
}

const BOOLEANS = new Map([
  ['yes', true],
  ['no', false],
  ['true', true],
  ['false', false],
])

class BoolPattern extends ValuePattern<boolean> {
  protected readonly what = 'yes or no'
  protected convert(text: string): boolean | undefined {
    return BOOLEANS.get(text)
  }
}

/** `yes` or `no` (also `true` or `false`). */
export function bool(): Pattern<boolean> {
  return new BoolPattern()
}

class StringPattern extends ValuePattern<string> {
  protected readonly what = 'string'
  protected override readonly quotedOk = true
  protected convert(text: string, flags: number): string | undefined {
    return flags & KEYWORD ? undefined : text
  }
}

/** A quoted string or any bare word that is not a keyword (numbers included); yields its text. */
export function string(): Pattern<string> {
  return new StringPattern()
}
