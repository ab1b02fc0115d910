import { Pattern } from './pattern.js'
import type { Compiler, Matcher, Runtime } from './runtime.js'
import { EOF, EOL, FLOAT, INT, PUNCT, QUOTED, type Tok } from './token.js'

/**
 * Expressions, evaluated while parsing: numbers, strings, booleans (yes/no,
 * true/false), `( )`, `! -` and, loosest last, `* / %`, `+ -`,
 * `== != < <= > >=`, `&&`, `||`. Operators made of letters-and-symbols
 * (`+ - * / % && ||`) are bare words, so they need spaces around them:
 * `1 + 2`, not `1+2`. A type error (`"a" * 2`) or a division by zero is
 * reported at the operator and the statement is rejected.
 */
export type ExprValue = number | string | boolean

/** Evaluation failed and was reported; operators on it stay silent. */
const POISON = Symbol('poison')
type V = ExprValue | typeof POISON

const MAX_DEPTH = 64
const COMPARISONS = new Set(['==', '!=', '<', '<=', '>', '>='])

function isOp(t: Tok, op: string): boolean {
  return t.value === op && (t.flags & QUOTED) === 0
}

function typeName(v: ExprValue): string {
  return typeof v === 'boolean' ? 'boolean' : typeof v
}

class Evaluator {
  constructor(private readonly p: Runtime) {}

  /** Returns the index after the expression, the value in `this.v`. */
  v: V = POISON

  or(i: number): number {
    let j = this.and(i)
    if (j < 0) return -1
    for (;;) {
      const t = this.p.tok(j)
      if (!isOp(t, '||')) return j
      const left = this.v
      j = this.and(j + 1)
      if (j < 0) return -1
      this.v = this.logic(t, left, this.v, (a, b) => a || b)
    }
  }

  and(i: number): number {
    let j = this.cmp(i)
    if (j < 0) return -1
    for (;;) {
      const t = this.p.tok(j)
      if (!isOp(t, '&&')) return j
      const left = this.v
      j = this.cmp(j + 1)
      if (j < 0) return -1
      this.v = this.logic(t, left, this.v, (a, b) => a && b)
    }
  }

  cmp(i: number): number {
    let j = this.add(i)
    if (j < 0) return -1
    const t = this.p.tok(j)
    if (!(t.flags & PUNCT) || !COMPARISONS.has(t.value)) return j
    const left = this.v
    j = this.add(j + 1)
    if (j < 0) return -1
    const right = this.v
    if (left === POISON || right === POISON) {
      this.v = POISON
      return j
    }
    if (typeof left !== typeof right)
      return this.error(t, `cannot compare ${typeName(left)} with ${typeName(right)}`, j)
    if (t.value === '==') this.v = left === right
    else if (t.value === '!=') this.v = left !== right
    else if (typeof left === 'boolean') return this.error(t, `'${t.value}' does not apply to booleans`, j)
    else if (t.value === '<') this.v = left < right
    else if (t.value === '<=') this.v = left <= right
    else if (t.value === '>') this.v = left > right
    else this.v = left >= right
    return j
  }

  add(i: number): number {
    let j = this.mul(i)
    if (j < 0) return -1
    for (;;) {
      const t = this.p.tok(j)
      if (!isOp(t, '+') && !isOp(t, '-')) return j
      const left = this.v
      j = this.mul(j + 1)
      if (j < 0) return -1
      const right = this.v
      if (left === POISON || right === POISON) this.v = POISON
      else if (t.value === '+' && typeof left === 'string' && typeof right === 'string') this.v = left + right
      else if (typeof left === 'number' && typeof right === 'number') {
        this.v = t.value === '+' ? left + right : left - right
      } else this.error(t, `cannot apply '${t.value}' to ${typeName(left)} and ${typeName(right)}`, j)
    }
  }

  mul(i: number): number {
    let j = this.unary(i)
    if (j < 0) return -1
    for (;;) {
      const t = this.p.tok(j)
      if (!isOp(t, '*') && !isOp(t, '/') && !isOp(t, '%')) return j
      const left = this.v
      j = this.unary(j + 1)
      if (j < 0) return -1
      const right = this.v
      if (left === POISON || right === POISON) this.v = POISON
      else if (typeof left !== 'number' || typeof right !== 'number') {
        this.error(t, `cannot apply '${t.value}' to ${typeName(left)} and ${typeName(right)}`, j)
      } else if (t.value !== '*' && right === 0) this.error(t, 'division by zero', j)
      else if (t.value === '*') this.v = left * right
      else if (t.value === '/') this.v = left / right
      else this.v = left % right
    }
  }

  unary(i: number): number {
    const p = this.p
    const t = p.tok(i)
    if (isOp(t, '!') || isOp(t, '-')) {
      if (p.depth >= MAX_DEPTH) return this.tooDeep(t)
      p.depth++
      const j = this.unary(i + 1)
      p.depth--
      if (j < 0) return -1
      const v = this.v
      if (v === POISON) return j
      if (t.value === '!' && typeof v === 'boolean') this.v = !v
      else if (t.value === '-' && typeof v === 'number') this.v = -v
      else this.error(t, `cannot apply '${t.value}' to ${typeName(v)}`, j)
      return j
    }
    if (isOp(t, '(')) {
      if (p.depth >= MAX_DEPTH) return this.tooDeep(t)
      p.depth++
      const j = this.or(i + 1)
      p.depth--
      if (j < 0) return -1
      if (!isOp(p.tok(j), ')')) return p.fail(j, "')'")
      return j + 1
    }
    if (t.flags & (PUNCT | EOL | EOF) || OPERATOR_WORDS.has(t.value)) return p.fail(i, 'value')
    if (t.flags & QUOTED) this.v = t.value
    else if (t.flags & (INT | FLOAT)) this.v = Number(t.value)
    else if (t.value === 'yes' || t.value === 'true') this.v = true
    else if (t.value === 'no' || t.value === 'false') this.v = false
    else this.v = t.value
    return i + 1
  }

  private logic(t: Tok, a: V, b: V, f: (a: boolean, b: boolean) => boolean): V {
    if (a === POISON || b === POISON) return POISON
    if (typeof a !== 'boolean' || typeof b !== 'boolean') {
      this.p.report('value', `'${t.value}' needs booleans, not ${typeName(a)} and ${typeName(b)}`, t)
      return POISON
    }
    return f(a, b)
  }

  private error(t: Tok, message: string, j: number): number {
    this.p.report('value', message, t)
    this.v = POISON
    return j
  }

  private tooDeep(t: Tok): number {
    this.p.report('limit', `expression nests too deeply (limit ${MAX_DEPTH})`, t)
    return -1
  }
}

const OPERATOR_WORDS = new Set(['||', '&&', '+', '*', '/', '%'])

class ExprPattern extends Pattern<ExprValue> {
  compile(c: Compiler): Matcher {
    for (const op of ['==', '!=', '<=', '>=', '(', ')', '!', '<', '>']) c.operator(op)
    return (p, i) => {
      const e = new Evaluator(p)
      const j = e.or(i)
      if (j < 0) return -1
      // A reported error already rejects the statement; the value only needs a type.
      p.v = e.v === POISON ? false : e.v
      return j
    }
  }
}

/** An expression, yielding its value (number, string or boolean). */
export function expr(): Pattern<ExprValue> {
  return new ExprPattern()
}

/** @internal The `if` condition: an expression that must be a boolean. */
export function conditionMatcher(c: Compiler): Matcher {
  const m = new ExprPattern().compile(c)
  return (p, i) => {
    const j = m(p, i)
    if (j < 0) return -1
    if (typeof p.v !== 'boolean') {
      p.report(
        'value',
        `condition must be a comparison or yes/no, not a ${typeName(p.v as ExprValue)}`,
        p.tok(i),
      )
      p.v = false
    }
    return j
  }
}
