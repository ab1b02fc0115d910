/**
 * A subset of pf.conf(5): macros (parsey's own), `set` options, tables, and
 * pass/block rules with lists, built into a typed PfConfig. Written from the
 * manual page's syntax, in its fixed order:
 *
 *   action [in|out] [log] [quick] [on ifspec] [inet|inet6] [proto protospec]
 *          (all | from hosts [port ports] to hosts [port ports]) [flags F/M]
 *          [keep state | no state] [label "text"]
 */
import {
  alt,
  Configuration,
  Grammar,
  int,
  Lexer,
  list,
  many,
  optional,
  type ParseOptions,
  type ParseResult,
  type Pattern,
  seq,
  string,
  token,
} from '@poolp/parsey'

export interface Host {
  negated: boolean
  /** `any`, `self`, an address or network, or a `<table>`. */
  kind: 'any' | 'self' | 'address' | 'table'
  value?: string
}

export interface Port {
  op: '=' | '!=' | '<' | '<=' | '>' | '>=' | 'range'
  /** A number, or a service name from /etc/services. */
  port: number | string
  /** For `a:b` ranges, the upper end. */
  to?: number
}

export interface Endpoint {
  hosts: Host[]
  ports: Port[]
}

export interface PfRule {
  action: 'pass' | 'block'
  policy?: 'drop' | 'return'
  direction?: 'in' | 'out'
  log: boolean
  quick: boolean
  interfaces: { negated: boolean; name: string }[]
  af?: 'inet' | 'inet6'
  protocols: string[]
  from: Endpoint
  to: Endpoint
  flags?: string
  state?: 'keep' | 'no'
  label?: string
  line: number
}

export interface PfTable {
  name: string
  persist: boolean
  const: boolean
  files: string[]
  addresses: { negated: boolean; address: string }[]
}

export interface PfConfig {
  skip: string[]
  blockPolicy: 'drop' | 'return'
  limits: { states?: number; frags?: number; srcNodes?: number }
  tables: Map<string, PfTable>
  rules: PfRule[]
}

const tableName = seq('<', 'STRING', '>').map(([, t]) => t)

const host: Pattern<Host> = seq(
  optional('!'),
  alt(
    alt('any', 'self').map((t) => ({ kind: t.value as 'any' | 'self' })),
    tableName.map((t) => ({ kind: 'table' as const, value: t.value })),
    string().map((a) => ({ kind: 'address' as const, value: a })),
  ),
).map(([not, h]) => ({ negated: not !== undefined, ...h }))

const portNumber = alt(
  int({ min: 0, max: 65535 }),
  string().map((s) => s),
)
const port: Pattern<Port> = alt(
  seq(alt('=', '!=', '<', '<=', '>', '>='), portNumber).map(([op, p]) => ({
    op: op.value as Port['op'],
    port: p,
  })),
  string().map((s): Port => {
    const m = /^([0-9]+):([0-9]+)$/.exec(s)
    if (m) return { op: 'range', port: Number(m[1]), to: Number(m[2]) }
    return { op: '=', port: /^[0-9]+$/.test(s) ? Number(s) : s }
  }),
)

const endpoint = (word: 'from' | 'to'): Pattern<Endpoint> =>
  seq(word, optional(list(host)), optional(seq('port', list(port)))).map(([, hosts, ports]) => ({
    hosts: hosts ?? [{ negated: false, kind: 'any' }],
    ports: ports?.[1] ?? [],
  }))

const anyEndpoint = (): Endpoint => ({ hosts: [{ negated: false, kind: 'any' }], ports: [] })

export function pfGrammar(): Grammar<PfConfig> {
  const g = new Grammar<PfConfig>({
    state: () => ({ skip: [], blockPolicy: 'drop', limits: {}, tables: new Map(), rules: [] }),
  })

  g.registerRule(([, , , ifs], s) => s.skip.push(...ifs), 'set', 'skip', 'on', list(string()))
  g.registerRule(
    ([, , p], s) => (s.blockPolicy = p.value as 'drop' | 'return'),
    'set',
    'block-policy',
    alt('drop', 'return'),
  )
  const limit = seq(alt('states', 'frags', 'src-nodes'), int({ min: 1 })).map(([k, n]) => ({ k: k.value, n }))
  g.registerRule(
    ([, , limits], s) => {
      for (const { k, n } of limits) {
        if (k === 'states') s.limits.states = n
        else if (k === 'frags') s.limits.frags = n
        else s.limits.srcNodes = n
      }
    },
    'set',
    'limit',
    list(limit),
  )

  const tableOption = alt(
    alt('persist', 'const', 'counters').map((t) => ({ flag: t.value })),
    seq('file', string()).map(([, f]) => ({ file: f })),
    list(
      seq(optional('!'), string()).map(([not, a]) => ({ negated: not !== undefined, address: a })),
      {
        single: false,
      },
    ).map((addresses) => ({ addresses })),
  )
  g.registerRule(
    ([, name, opts], s, ctx) => {
      if (s.tables.has(name.value)) ctx.error(`table <${name.value}> is already defined`, name)
      const t: PfTable = { name: name.value, persist: false, const: false, files: [], addresses: [] }
      for (const o of opts) {
        if ('flag' in o) {
          if (o.flag === 'persist') t.persist = true
          if (o.flag === 'const') t.const = true
        } else if ('file' in o) t.files.push(o.file)
        else t.addresses.push(...o.addresses)
      }
      s.tables.set(name.value, t)
    },
    'table',
    tableName,
    many(tableOption),
  )

  const action = alt(
    token('pass').map(() => ({ action: 'pass' as const, policy: undefined })),
    seq('block', optional(alt('drop', 'return'))).map(([, p]) => ({
      action: 'block' as const,
      policy: p?.value as 'drop' | 'return' | undefined,
    })),
  )
  const iface = seq(optional('!'), string()).map(([not, name]) => ({ negated: not !== undefined, name }))
  const addresses = alt(
    token('all').map(() => ({ from: anyEndpoint(), to: anyEndpoint() })),
    seq(optional(endpoint('from')), optional(endpoint('to'))).map(([from, to]) => ({
      from: from ?? anyEndpoint(),
      to: to ?? anyEndpoint(),
    })),
  )
  g.registerRule(
    ([a, dir, log, quick, on, af, proto, hosts, flags, state, label], s, ctx) => {
      for (const h of [...hosts.from.hosts, ...hosts.to.hosts]) {
        if (h.kind === 'table' && !s.tables.has(h.value!)) ctx.error(`table <${h.value}> is not defined`)
      }
      s.rules.push({
        action: a.action,
        policy: a.policy,
        direction: dir?.value as 'in' | 'out' | undefined,
        log: log !== undefined,
        quick: quick !== undefined,
        interfaces: on?.[1] ?? [],
        af: af?.value as 'inet' | 'inet6' | undefined,
        protocols: proto?.[1] ?? [],
        from: hosts.from,
        to: hosts.to,
        flags: flags?.[1],
        state: state === undefined ? undefined : state[0].value === 'keep' ? 'keep' : 'no',
        label: label?.[1],
        line: ctx.start.line,
      })
    },
    action,
    optional(alt('in', 'out')),
    optional('log'),
    optional('quick'),
    optional(seq('on', list(iface))),
    optional(alt('inet', 'inet6')),
    optional(seq('proto', list(string()))),
    addresses,
    optional(seq('flags', string())),
    optional(alt(seq('keep', 'state'), seq('no', 'state'))),
    optional(seq('label', string())),
  )
  return g.freeze()
}

export function pfLexer(): Lexer {
  const lexer = new Lexer()
  lexer.registerTokenMatch('STRING', Lexer.isString)
  lexer.registerTokenMatch('NUMBER', Lexer.isNumber)
  return lexer.freeze()
}

const config = new Configuration(pfLexer(), pfGrammar())

/** Parses a pf.conf; `macros` act as pfctl's -D. Throws ConfigurationError listing every problem. */
export function parsePfConf(path: string, options?: ParseOptions): ParseResult<PfConfig> {
  return config.parseFile(path, options)
}

export function parsePfConfString(
  text: string,
  options: ParseOptions & { filename?: string } = {},
): ParseResult<PfConfig> {
  return config.parseString(text, { filename: 'pf.conf', ...options })
}
