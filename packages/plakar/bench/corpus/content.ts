/**
 * File content for the corpus: text that compresses like source code, documents, data and
 * logs (a Zipf-distributed vocabulary in grammar-like structures), and incompressible bytes
 * for media. Every generator is a pure function of the Rng it is given and the size asked.
 */
import { Rng } from './rng.js'

export type ContentKind = 'code' | 'doc' | 'data' | 'log' | 'binary' | 'mixed'

const COMMON = (
  'the of and to in is that for it as was with be by on not he this are or his from at which but have an ' +
  'they you were her all she there would their we him been has when who will more no if out so said what ' +
  'up its about into than them can only other new some could time these two may then do first any my now ' +
  'such like our over man me even most made after also did many before must through back years where much ' +
  'your way well down should because each just those people how too little state good very make world still'
).split(' ')

const KEYWORDS = (
  'const let function return if else for while switch case break continue new this import export from ' +
  'class extends interface type async await try catch throw finally static public private readonly null ' +
  'undefined true false void number string boolean struct int char unsigned sizeof typedef enum'
).split(' ')

const ONSETS = [
  'b',
  'c',
  'd',
  'f',
  'g',
  'h',
  'k',
  'l',
  'm',
  'n',
  'p',
  'r',
  's',
  't',
  'v',
  'w',
  'st',
  'tr',
  'pl',
]
const NUCLEI = ['a', 'e', 'i', 'o', 'u', 'ea', 'io', 'ou', 'ai']
const CODAS = ['', '', '', 'n', 'r', 's', 't', 'l', 'nd', 'ck', 'ng']

const encoder = new TextEncoder()

/** The language of the corpus: fixed, so that corpora of different seeds read alike. */
function buildVocabulary(): string[] {
  const rng = new Rng(0x5eed)
  const seen = new Set<string>(COMMON)
  const words = [...COMMON]
  while (words.length < 6000) {
    let w = ''
    const syllables = rng.range(1, 4)
    for (let s = 0; s < syllables; s++) w += rng.pick(ONSETS) + rng.pick(NUCLEI) + rng.pick(CODAS)
    if (!seen.has(w)) {
      seen.add(w)
      words.push(w)
    }
  }
  return words
}

const VOCABULARY = buildVocabulary()
const WORDS = VOCABULARY.map((w) => encoder.encode(w))
const CAPITALISED = VOCABULARY.map((w) => encoder.encode(w[0]!.toUpperCase() + w.slice(1)))
const KEYWORD_BYTES = KEYWORDS.map((w) => encoder.encode(w))
const OPERATORS = ['===', '!==', '<', '>', '<=', '>=', '&&', '||', '+', '-', '*'].map((w) =>
  encoder.encode(w),
)

/** Names for files and directories: plain vocabulary words. */
export function word(rng: Rng): string {
  return VOCABULARY[rng.zipf(VOCABULARY.length)]!
}

/** Collects exactly `size` bytes; anything written past the end is dropped. */
class Sink {
  readonly buf: Uint8Array
  pos = 0

  constructor(size: number) {
    this.buf = new Uint8Array(size)
  }

  get full(): boolean {
    return this.pos >= this.buf.length
  }

  put(bytes: Uint8Array): void {
    const { buf } = this
    let p = this.pos
    const end = Math.min(buf.length, p + bytes.length)
    for (let i = 0; p < end; i++, p++) buf[p] = bytes[i]!
    this.pos = p
  }

  ch(code: number): void {
    if (this.pos < this.buf.length) this.buf[this.pos] = code
    this.pos++
  }

  spaces(n: number): void {
    for (let i = 0; i < n; i++) this.ch(32)
  }

  num(n: number): void {
    this.put(encoder.encode(String(n)))
  }
}

const ASSIGN = encoder.encode(' = ')
const COMMA_SP = encoder.encode(', ')
const IF_OPEN = encoder.encode('if (')
const BLOCK_OPEN = encoder.encode(') {')
const COMMENT = encoder.encode('// ')
const RETURN = encoder.encode('return ')
const FUNCTION = encoder.encode('function ')
const COLON_SP = encoder.encode(': ')
const CONST = encoder.encode('const ')
const ASSIGN_QUOTE = encoder.encode(" = '")
const HEADING = encoder.encode('## ')
const RECORD_OPEN = encoder.encode('  {')
const KEY_END = encoder.encode('": ')
const RECORD_CLOSE = encoder.encode('},')
const ID_FIELD = encoder.encode(' id=')

const SP = 32
const NL = 10

function words(rng: Rng, sink: Sink, count: number): void {
  for (let i = 0; i < count; i++) {
    if (i > 0) sink.ch(SP)
    sink.put(WORDS[rng.zipf(WORDS.length)]!)
  }
}

function identifier(rng: Rng, sink: Sink): void {
  sink.put(WORDS[rng.zipf(WORDS.length)]!)
  const parts = rng.int(3)
  for (let i = 0; i < parts; i++) sink.put(CAPITALISED[rng.zipf(CAPITALISED.length)]!)
}

function code(rng: Rng, sink: Sink): void {
  let depth = 0
  while (!sink.full) {
    const form = rng.int(10)
    if (form === 9 && depth > 0) depth--
    sink.spaces(depth * 2)
    switch (form) {
      case 0:
      case 1:
        sink.put(rng.pick(KEYWORD_BYTES))
        sink.ch(SP)
        identifier(rng, sink)
        sink.put(ASSIGN)
        identifier(rng, sink)
        sink.ch(40)
        identifier(rng, sink)
        sink.put(COMMA_SP)
        sink.num(rng.int(4096))
        sink.ch(41)
        break
      case 2:
        sink.put(IF_OPEN)
        identifier(rng, sink)
        sink.ch(SP)
        sink.put(rng.pick(OPERATORS))
        sink.ch(SP)
        identifier(rng, sink)
        sink.put(BLOCK_OPEN)
        if (depth < 6) depth++
        break
      case 3:
        sink.put(COMMENT)
        words(rng, sink, rng.range(3, 14))
        break
      case 4:
        sink.put(RETURN)
        identifier(rng, sink)
        sink.ch(46)
        identifier(rng, sink)
        break
      case 5:
        sink.put(FUNCTION)
        identifier(rng, sink)
        sink.ch(40)
        identifier(rng, sink)
        sink.put(COLON_SP)
        sink.put(rng.pick(KEYWORD_BYTES))
        sink.put(BLOCK_OPEN)
        if (depth < 6) depth++
        break
      case 6:
        identifier(rng, sink)
        sink.ch(46)
        identifier(rng, sink)
        sink.ch(40)
        identifier(rng, sink)
        sink.ch(41)
        break
      case 7:
        break
      case 8:
        sink.put(CONST)
        identifier(rng, sink)
        sink.put(ASSIGN_QUOTE)
        words(rng, sink, rng.range(1, 6))
        sink.ch(39)
        break
      default:
        sink.ch(125)
    }
    sink.ch(NL)
  }
}

function doc(rng: Rng, sink: Sink): void {
  while (!sink.full) {
    if (rng.chance(0.15)) {
      sink.put(HEADING)
      sink.put(CAPITALISED[rng.zipf(CAPITALISED.length)]!)
      sink.ch(SP)
      words(rng, sink, rng.range(1, 5))
      sink.ch(NL)
      sink.ch(NL)
    }
    const sentences = rng.range(2, 8)
    for (let s = 0; s < sentences; s++) {
      if (s > 0) sink.ch(SP)
      sink.put(CAPITALISED[rng.zipf(CAPITALISED.length)]!)
      sink.ch(SP)
      words(rng, sink, rng.range(4, 12))
      if (rng.chance(0.4)) {
        sink.ch(44)
        sink.ch(SP)
        words(rng, sink, rng.range(2, 8))
      }
      sink.ch(46)
    }
    sink.ch(NL)
    sink.ch(NL)
  }
}

function data(rng: Rng, sink: Sink): void {
  const fields = Array.from({ length: rng.range(3, 8) }, () => WORDS[rng.zipf(WORDS.length)]!)
  sink.ch(91)
  sink.ch(NL)
  while (!sink.full) {
    sink.put(RECORD_OPEN)
    fields.forEach((f, i) => {
      if (i > 0) sink.put(COMMA_SP)
      sink.ch(34)
      sink.put(f)
      sink.put(KEY_END)
      if (i % 2 === 0) {
        sink.num(rng.int(1_000_000))
      } else {
        sink.ch(34)
        words(rng, sink, rng.range(1, 3))
        sink.ch(34)
      }
    })
    sink.put(RECORD_CLOSE)
    sink.ch(NL)
  }
}

const LEVELS = ['INFO ', 'DEBUG', 'WARN ', 'ERROR'].map((l) => encoder.encode(l))

function log(rng: Rng, sink: Sink): void {
  let t = 1_700_000_000_000 + rng.int(1_000_000_000)
  while (!sink.full) {
    t += rng.int(5000)
    sink.put(encoder.encode(new Date(t).toISOString()))
    sink.ch(SP)
    sink.put(LEVELS[rng.zipf(LEVELS.length)]!)
    sink.ch(SP)
    identifier(rng, sink)
    sink.put(COLON_SP)
    words(rng, sink, rng.range(3, 12))
    sink.put(ID_FIELD)
    sink.num(rng.next())
    sink.ch(NL)
  }
}

const GENERATORS: Record<Exclude<ContentKind, 'binary' | 'mixed'>, (rng: Rng, sink: Sink) => void> = {
  code,
  doc,
  data,
  log,
}

const PAGE = 64 * 1024

/**
 * Disk images and databases: 64 KiB pages, a third zeros, a third random bytes, a third
 * text, so that part of the file compresses and part does not.
 */
function mixed(rng: Rng, size: number): Uint8Array {
  const out = new Uint8Array(size)
  for (let off = 0; off < size; off += PAGE) {
    const page = out.subarray(off, Math.min(size, off + PAGE))
    const form = rng.int(3)
    if (form === 1) rng.fill(page)
    else if (form === 2) page.set(generate(rng.chance(0.5) ? 'code' : 'log', rng.next(), page.length))
  }
  return out
}

/** `size` bytes of `kind` content, a pure function of (seed, kind, size). */
export function generate(kind: ContentKind, seed: number, size: number): Uint8Array {
  const rng = new Rng(seed)
  if (kind === 'mixed') return mixed(rng, size)
  if (kind === 'binary') {
    const out = new Uint8Array(size)
    rng.fill(out)
    return out
  }
  const sink = new Sink(size)
  GENERATORS[kind](rng, sink)
  return sink.buf
}
