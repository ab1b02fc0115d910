import { Pattern } from './pattern.js'
import type { Compiler, Matcher, Runtime } from './runtime.js'
import { EOF, EOL, INT, KEYWORD, PUNCT, QUOTED, type Tok } from './token.js'

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

/** A token that can hold a value: not punctuation, not the end of a line. */
function valueAt(p: Runtime, i: number, quotedOk: boolean): Tok | undefined {
  const t = p.tok(i)
  if (t.flags & (PUNCT | EOL | EOF)) return undefined
  if (!quotedOk && t.flags & QUOTED) return undefined
  return t
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
  /** The value of `text`, or undefined when it is not one. */
  protected abstract convert(text: string, t: Tok): T | undefined

  compile(_c: Compiler): Matcher {
    const what = this.what
    const quotedOk = this.quotedOk
    return (p, i) => {
      const t = valueAt(p, i, quotedOk)
      const v = t === undefined ? undefined : this.convert(t.value, t)
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

  protected convert(text: string, t: Tok): number | undefined {
    if (!(t.flags & INT)) return undefined
    const n = Number(text)
    return Number.isSafeInteger(n) && inRange(n, this.range) ? n : undefined
  }
}

/** An integer (`-?[0-9]+`), optionally within a range. */
export function int(range: RangeOptions = {}): Pattern<number> {
  return new IntPattern(range)
}

const SIZE = /^([0-9]+(?:\.[0-9]+)?)([KMGT]?)B?$/i
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
    const m = SIZE.exec(text)
    if (!m) return undefined
    const n = Math.round(Number(m[1]) * SCALE[m[2]!.toUpperCase()]!)
    return Number.isSafeInteger(n) && inRange(n, this.range) ? n : undefined
  }
}

/** A size in bytes: a number with an optional K, M, G or T suffix (powers of 1024, an optional trailing B, any case). */
export function size(range: RangeOptions = {}): Pattern<number> {
  return new SizePattern(range)
}

const DURATION_PART = /([0-9]+)(ms|s|m|h|d|w)/y
const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
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

  protected convert(text: string, t: Tok): number | undefined {
    let ms = 0
    if (t.flags & INT) ms = Number(text) * 1000
    else {
      DURATION_PART.lastIndex = 0
      let at = 0
      while (at < text.length) {
        DURATION_PART.lastIndex = at
        const m = DURATION_PART.exec(text)
        if (!m) return undefined
        ms += Number(m[1]) * UNIT_MS[m[2]!]!
        at = DURATION_PART.lastIndex
      }
      if (at === 0) return undefined
    }
    return Number.isSafeInteger(ms) && ms >= 0 && inRange(ms, this.range) ? ms : undefined
  }
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
  protected convert(text: string, t: Tok): string | undefined {
    return t.flags & KEYWORD ? undefined : text
  }
}

/** A quoted string or any bare word that is not a keyword (numbers included); yields its text. */
export function string(): Pattern<string> {
  return new StringPattern()
}
