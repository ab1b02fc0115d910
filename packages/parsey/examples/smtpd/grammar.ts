/**
 * A subset of OpenSMTPD's smtpd.conf(5): pki, table, listen, action, match,
 * and a few settings, built into a typed SmtpdConfig. Written from the manual
 * page's syntax; tables are referenced as `<name>` and must be defined first,
 * as are actions, as smtpd requires.
 */
import {
  alt,
  Configuration,
  duration,
  Grammar,
  int,
  Lexer,
  list,
  optional,
  options,
  type ParseOptions,
  type ParseResult,
  type Pattern,
  seq,
  size,
  string,
  type Token,
  token,
} from '@poolp/parsey'

export type Table =
  | { name: string; backend: string; source: string }
  | { name: string; backend: 'inline'; values: string[]; pairs: Record<string, string> }

export interface Listener {
  interface: string
  family?: 'inet4' | 'inet6'
  port?: number
  tls?: 'tls' | 'tls-require' | 'smtps'
  hostname?: string
  auth?: { table?: string; optional: boolean }
  pki?: string
  tag?: string
  maskSrc: boolean
  senders?: { table: string; masquerade: boolean }
}

export type Delivery =
  | { method: 'mbox' }
  | { method: 'maildir'; path?: string }
  | { method: 'lmtp'; destination: string; rcptTo: boolean }
  | { method: 'mda'; command: string }
  | { method: 'forward-only' | 'expand-only' }
  | {
      method: 'relay'
      host?: string
      tls?: 'tls' | 'no-verify'
      auth?: string
      helo?: string
      backup: boolean
    }

export interface Action {
  name: string
  delivery: Delivery
  alias?: string
  virtual?: string
  user?: string
  userbase?: string
}

export interface Criterion {
  negated: boolean
  kind: 'any' | 'local' | 'socket' | 'src' | 'rdns' | 'auth' | 'mail-from' | 'domain' | 'rcpt-to'
  table?: string
  value?: string
}

export interface MatchRule {
  from?: Criterion
  for?: Criterion
  tag?: { negated: boolean; value: string }
  tls?: { negated: boolean }
  auth?: { negated: boolean; table?: string }
  /** The action's name, or null for `reject`. */
  action: string | null
  line: number
}

export interface SmtpdConfig {
  pki: Map<string, { cert?: string; key?: string }>
  tables: Map<string, Table>
  listeners: Listener[]
  actions: Map<string, Action>
  matches: MatchRule[]
  queueTtl?: number
  maxMessageSize?: number
}

/** `<name>`: a table reference, checked against the tables defined so far. */
const tableRef = seq('<', 'STRING', '>').map(([, name]) => name)

function table(state: SmtpdConfig, ref: Token, report: (m: string, at: Token) => void): string {
  if (!state.tables.has(ref.value)) report(`undefined table '${ref.value}'`, ref)
  return ref.value
}

/** `!` before a criterion negates it. */
function negatable<T>(p: Pattern<T>): Pattern<{ negated: boolean; value: T }> {
  return seq(optional('!'), p).map(([not, value]) => ({ negated: not !== undefined, value }))
}

export function smtpdGrammar(): Grammar<SmtpdConfig> {
  const g = new Grammar<SmtpdConfig>({
    state: () => ({ pki: new Map(), tables: new Map(), listeners: [], actions: new Map(), matches: [] }),
  })

  g.registerRule(
    ([, name, what, file], s) => {
      const entry = s.pki.get(name) ?? {}
      entry[what.value as 'cert' | 'key'] = file
      s.pki.set(name, entry)
    },
    'pki',
    string(),
    alt('cert', 'key'),
    string(),
  )

  const inline = list(
    alt(
      seq(string(), '=', string()).map(([k, , v]) => ({ k, v })),
      string().map((v) => ({ v })),
    ),
    { single: false },
  )
  g.registerRule(
    ([, name, body], s, ctx) => {
      if (s.tables.has(name.value)) ctx.error(`table '${name.value}' is already defined`, name)
      if (typeof body === 'string') {
        const colon = body.indexOf(':')
        const backend = colon > 0 ? body.slice(0, colon) : 'file'
        s.tables.set(name.value, {
          name: name.value,
          backend,
          source: colon > 0 ? body.slice(colon + 1) : body,
        })
        return
      }
      const values: string[] = []
      const pairs: Record<string, string> = {}
      for (const e of body)
        if ('k' in e) pairs[e.k] = e.v
        else values.push(e.v)
      s.tables.set(name.value, { name: name.value, backend: 'inline', values, pairs })
    },
    'table',
    'STRING',
    alt(inline, string()),
  )

  const listenOptions = options({
    family: alt('inet4', 'inet6').map((t) => t.value as 'inet4' | 'inet6'),
    port: seq('port', int({ min: 1, max: 65535 })).map(([, n]) => n),
    tls: alt('tls', 'tls-require', 'smtps').map((t) => t.value as 'tls' | 'tls-require' | 'smtps'),
    hostname: seq('hostname', string()).map(([, h]) => h),
    auth: alt(
      seq('auth', optional(tableRef)).map(([, t]) => ({ table: t, optional: false })),
      token('auth-optional').map(() => ({ table: undefined, optional: true })),
    ),
    pki: seq('pki', string()).map(([, p]) => p),
    tag: seq('tag', string()).map(([, t]) => t),
    maskSrc: token('mask-src'),
    senders: seq('senders', tableRef, optional('masquerade')).map(([, t, m]) => ({
      t,
      masquerade: m !== undefined,
    })),
  })
  g.registerRule(
    ([, , iface, o], s, ctx) => {
      const report = (m: string, at: Token) => ctx.error(m, at)
      if (o.pki !== undefined && !s.pki.has(o.pki)) ctx.error(`undefined pki '${o.pki}'`)
      s.listeners.push({
        interface: iface,
        family: o.family,
        port: o.port ?? (o.tls === 'smtps' ? 465 : 25),
        tls: o.tls,
        hostname: o.hostname,
        auth: o.auth && { optional: o.auth.optional, table: o.auth.table && table(s, o.auth.table, report) },
        pki: o.pki,
        tag: o.tag,
        maskSrc: o.maskSrc !== undefined,
        senders: o.senders && { table: table(s, o.senders.t, report), masquerade: o.senders.masquerade },
      })
    },
    'listen',
    'on',
    string(),
    listenOptions,
  )

  const delivery: Pattern<Delivery> = alt(
    token('mbox').map((): Delivery => ({ method: 'mbox' })),
    seq('maildir', optional(string())).map(([, path]): Delivery => ({ method: 'maildir', path })),
    seq('lmtp', string(), optional('rcpt-to')).map(
      ([, destination, r]): Delivery => ({ method: 'lmtp', destination, rcptTo: r !== undefined }),
    ),
    seq('mda', string()).map(([, command]): Delivery => ({ method: 'mda', command })),
    alt('forward-only', 'expand-only').map((t): Delivery => ({ method: t.value as 'forward-only' })),
    seq(
      'relay',
      options({
        host: seq('host', string()).map(([, h]) => h),
        tls: seq('tls', optional('no-verify')).map(([, nv]) =>
          nv ? ('no-verify' as const) : ('tls' as const),
        ),
        auth: seq('auth', tableRef).map(([, t]) => t.value),
        helo: seq('helo', string()).map(([, h]) => h),
        backup: token('backup'),
      }),
    ).map(([, o]): Delivery => ({ method: 'relay', ...o, backup: o.backup !== undefined })),
  )
  const actionOptions = options({
    alias: seq('alias', tableRef).map(([, t]) => t),
    virtual: seq('virtual', tableRef).map(([, t]) => t),
    user: seq('user', string()).map(([, u]) => u),
    userbase: seq('userbase', tableRef).map(([, t]) => t),
  })
  g.registerRule(
    ([, name, d, o], s, ctx) => {
      if (s.actions.has(name.value)) ctx.error(`action '${name.value}' is already defined`, name)
      const report = (m: string, at: Token) => ctx.error(m, at)
      if (d.method === 'relay' && d.auth !== undefined && !s.tables.has(d.auth))
        ctx.error(`undefined table '${d.auth}'`)
      s.actions.set(name.value, {
        name: name.value,
        delivery: d,
        alias: o.alias && table(s, o.alias, report),
        virtual: o.virtual && table(s, o.virtual, report),
        user: o.user,
        userbase: o.userbase && table(s, o.userbase, report),
      })
    },
    'action',
    'STRING',
    delivery,
    actionOptions,
  )

  // `[!] from ...` and `[!] for ...`: the `!` comes before the keyword, as in smtpd.conf(5).
  const from = negatable(
    seq(
      'from',
      alt(
        alt('any', 'local', 'socket').map((t) => ({ kind: t.value as 'any' | 'local' | 'socket' })),
        seq('src', tableRef).map(([, t]) => ({ kind: 'src' as const, ref: t })),
        seq('rdns', optional(tableRef)).map(([, t]) => ({ kind: 'rdns' as const, ref: t })),
        seq('auth', optional(tableRef)).map(([, t]) => ({ kind: 'auth' as const, ref: t })),
        seq('mail-from', tableRef).map(([, t]) => ({ kind: 'mail-from' as const, ref: t })),
      ),
    ).map(([, c]) => c),
  )
  const forWhom = negatable(
    seq(
      'for',
      alt(
        alt('any', 'local').map((t) => ({ kind: t.value as 'any' | 'local' })),
        seq('domain', tableRef).map(([, t]) => ({ kind: 'domain' as const, ref: t })),
        seq('domain', string()).map(([, v]) => ({ kind: 'domain' as const, value: v })),
        seq('rcpt-to', tableRef).map(([, t]) => ({ kind: 'rcpt-to' as const, ref: t })),
      ),
    ).map(([, c]) => c),
  )
  const criteria = options({
    from,
    for: forWhom,
    tag: negatable(seq('tag', string()).map(([, t]) => t)),
    tls: negatable(token('tls')),
    auth: negatable(seq('auth', optional(tableRef)).map(([, t]) => t)),
  })
  g.registerRule(
    ([, c, verdict], s, ctx) => {
      const report = (m: string, at: Token) => ctx.error(m, at)
      const criterion = (
        x: { negated: boolean; value: { kind: Criterion['kind']; ref?: Token; value?: string } } | undefined,
      ): Criterion | undefined =>
        x && {
          negated: x.negated,
          kind: x.value.kind,
          table: x.value.ref && table(s, x.value.ref, report),
          value: x.value.value,
        }
      let action: string | null = null
      if (verdict[0].value === 'action') {
        const name = verdict[1]!
        if (!s.actions.has(name.value)) ctx.error(`undefined action '${name.value}'`, name)
        action = name.value
      }
      s.matches.push({
        from: criterion(c.from),
        for: criterion(c.for),
        tag: c.tag && { negated: c.tag.negated, value: c.tag.value },
        tls: c.tls && { negated: c.tls.negated },
        auth: c.auth && { negated: c.auth.negated, table: c.auth.value && table(s, c.auth.value, report) },
        action,
        line: ctx.start.line,
      })
    },
    'match',
    criteria,
    alt(seq('action', 'STRING'), seq('reject')),
  )

  g.registerRule(([, , ttl], s) => (s.queueTtl = ttl), 'queue', 'ttl', duration({ min: 60_000 }))
  g.registerRule(([, , sz], s) => (s.maxMessageSize = sz), 'smtp', 'max-message-size', size({ min: 1024 }))
  return g.freeze()
}

export function smtpdLexer(): Lexer {
  const lexer = new Lexer()
  lexer.registerTokenMatch('STRING', Lexer.isString)
  lexer.registerTokenMatch('NUMBER', Lexer.isNumber)
  return lexer.freeze()
}

const config = new Configuration(smtpdLexer(), smtpdGrammar())

/** Parses an smtpd.conf; throws ConfigurationError listing every problem. */
export function parseSmtpdConf(path: string, options?: ParseOptions): ParseResult<SmtpdConfig> {
  return config.parseFile(path, options)
}

export function parseSmtpdConfString(text: string, filename = 'smtpd.conf'): ParseResult<SmtpdConfig> {
  return config.parseString(text, { filename })
}
