/**
 * Parse throughput against JSON.parse on a document of the same size, in the
 * same run, at 10k, 100k and 1M statements. Medians of several runs.
 *
 *   pnpm bench            (in packages/parsey; builds dist first)
 *   PARSEY_BENCH_SIZES=100000 pnpm bench   (other sizes)
 *
 * Targets (issue 2): parsey at least 10% of JSON.parse's MB/s, and linear
 * growth: 10x the statements take at most 11x the time.
 */
import { Configuration, duration, Grammar, int, Lexer, list, options, seq, size, string } from '@poolp/parsey'

interface Listen {
  iface: string
  port?: number
  tls?: boolean
}
interface State {
  listens: Listen[]
  tables: Map<string, string[]>
  matches: { domain: string; action: string }[]
  limits: { maxSize: number; timeout: number }[]
}

function configuration(): Configuration<State> {
  const lexer = new Lexer()
  lexer.registerTokenMatch('STRING', Lexer.isString)
  lexer.registerTokenMatch('NUMBER', Lexer.isNumber)
  const g = new Grammar<State>({
    state: () => ({ listens: [], tables: new Map(), matches: [], limits: [] }),
  })
  g.registerRule(
    ([, , iface, o], s) => {
      s.listens.push({ iface: iface.value, port: o.port?.[1], tls: o.tls !== undefined })
    },
    'listen',
    'on',
    'STRING',
    options({ port: seq('port', int({ min: 1, max: 65535 })), tls: 'tls' }),
  )
  g.registerRule(([, name, values], s) => s.tables.set(name.value, values), 'table', 'STRING', list(string()))
  g.registerRule(
    ([, , , , , domain, , action], s) => s.matches.push({ domain, action: action.value }),
    'match',
    'from',
    'any',
    'for',
    'domain',
    string(),
    'action',
    'STRING',
  )
  g.registerRule(
    ([, , maxSize, , timeout], s) => s.limits.push({ maxSize, timeout }),
    'set',
    'max-size',
    size(),
    'timeout',
    duration(),
  )
  return new Configuration(lexer, g)
}

function generate(n: number): string {
  const out: string[] = []
  for (let k = 0; k < n; k++) {
    switch (k % 4) {
      case 0:
        out.push(`listen on eth${k % 8} port ${1 + (k % 65000)}${k % 3 === 0 ? ' tls' : ''}`)
        break
      case 1:
        out.push(`table t${k} { "a${k}.example.com", b${k}, c${k} }`)
        break
      case 2:
        out.push(`match from any for domain "d${k}.example.org" action relay${k % 4}`)
        break
      default:
        out.push(`set max-size ${1 + (k % 100)}M timeout ${1 + (k % 60)}s`)
    }
  }
  return `${out.join('\n')}\n`
}

/** A JSON document of at least `bytes` characters holding similar records. */
function generateJson(bytes: number): string {
  const items: string[] = []
  let len = 2
  for (let k = 0; len < bytes; k++) {
    const s = JSON.stringify({
      listen: `eth${k % 8}`,
      port: 1 + (k % 65000),
      tls: k % 3 === 0,
      domain: `d${k}.example.org`,
    })
    items.push(s)
    len += s.length + 1
  }
  return `[${items.join(',')}]`
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

function ms(f: () => unknown): number {
  const t0 = process.hrtime.bigint()
  f()
  return Number(process.hrtime.bigint() - t0) / 1e6
}

const config = configuration()
// Warm both paths until the JIT has settled, so the first size measured is not paying for it.
for (let k = 0; k < 10; k++) config.parseString(generate(20_000))
for (let k = 0; k < 10; k++) JSON.parse(generateJson(1_000_000))

const sizes = (process.env.PARSEY_BENCH_SIZES ?? '10000,100000,1000000').split(',').map(Number)
const rows: { n: number; mb: number; parseyMs: number; jsonMs: number }[] = []
for (const n of sizes) {
  const text = generate(n)
  const json = generateJson(text.length)
  const check = config.parseString(text).state
  if (check.listens.length + check.tables.size + check.matches.length + check.limits.length !== n) {
    throw new Error(`parsed the wrong number of statements at ${n}`)
  }
  JSON.parse(json)
  // Alternate the two so both see the same machine load; medians of the runs.
  const runs = n >= 1_000_000 ? 5 : n >= 100_000 ? 9 : 21
  const p: number[] = []
  const j: number[] = []
  for (let r = 0; r < runs; r++) {
    p.push(ms(() => config.parseString(text)))
    j.push(ms(() => JSON.parse(json)))
  }
  rows.push({ n, mb: Buffer.byteLength(text) / 1e6, parseyMs: median(p), jsonMs: median(j) })
}

const fmt = (x: number, d = 1) => x.toFixed(d)
console.log('| statements | MB | parsey ms | parsey MB/s | JSON.parse ms | JSON.parse MB/s | ratio |')
console.log('|---:|---:|---:|---:|---:|---:|---:|')
let ok = true
for (const r of rows) {
  const pr = r.mb / (r.parseyMs / 1000)
  const jr = r.mb / (r.jsonMs / 1000)
  const ratio = pr / jr
  if (ratio < 0.1) ok = false
  console.log(
    `| ${r.n.toLocaleString('en')} | ${fmt(r.mb, 2)} | ${fmt(r.parseyMs)} | ${fmt(pr)} | ${fmt(r.jsonMs)} | ${fmt(jr)} | ${fmt(ratio * 100)}% |`,
  )
}
for (let k = 1; k < rows.length; k++) {
  const growth = rows[k]!.parseyMs / rows[k - 1]!.parseyMs
  const line = `time ${rows[k - 1]!.n.toLocaleString('en')} -> ${rows[k]!.n.toLocaleString('en')} statements: x${fmt(growth, 2)} (limit x11)`
  if (growth > 11) ok = false
  console.log(line)
}
console.log(ok ? 'targets met' : 'TARGETS MISSED')
process.exitCode = ok ? 0 : 1
