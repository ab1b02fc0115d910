/**
 * server.conf, the plakar server's configuration: a parsey grammar (docs/plakar-server.md
 * has the language). The parent parses it, reports every error at once as file:line:col,
 * and sends each child process only what it needs.
 *
 *   repository "/var/backups/plakar"
 *   user "_plakar"
 *   listen on 127.0.0.1 port 9876
 *   listen on "/var/run/plakar.sock"
 *   listen on :: port 9877 tls certificate "/etc/plakar/server.crt" key "/etc/plakar/server.key"
 *   token $backup_token access append-only
 *   token $ops_token access full
 *   max connections 64
 *   timeout 60s
 */
import net from 'node:net'
import {
  Configuration,
  ConfigurationError,
  Diagnostic,
  duration,
  Grammar,
  int,
  Lexer,
  options,
  seq,
  size,
  string,
} from '@poolp/parsey'
import { ACCESS, type Access, MAX_OBJECT } from '../storage/remote/protocol.js'

export const DEFAULT_PORT = 9876

export type ListenSpec =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number; readonly tls?: TlsFiles }
  | { readonly kind: 'unix'; readonly path: string }

export interface TlsFiles {
  readonly certificate: string
  readonly key: string
}

export interface ServerConfig {
  /** A storage location, as after `plakar on`; undefined: the one `plakar on` gave. */
  repository?: string
  /** The unprivileged user every child runs as (when started as root). */
  user: string
  listen: ListenSpec[]
  tokens: { token: string; access: Access }[]
  maxConnections: number
  /** Idle timeout of an authenticated connection, ms. */
  timeout: number
  /** Time a connection has to authenticate, ms. */
  authTimeout: number
  /** Session processes. */
  sessions: number
  /** Largest object a client may put. */
  maxObject: number
}

function defaults(): ServerConfig {
  return {
    user: '_plakar',
    listen: [],
    tokens: [],
    maxConnections: 64,
    timeout: 60_000,
    authTimeout: 5_000,
    sessions: 2,
    maxObject: 64 << 20,
  }
}

function build(): Configuration<ServerConfig> {
  const lexer = new Lexer()
  lexer.registerTokenMatch('STRING', Lexer.isString)
  const g = new Grammar<ServerConfig>({ state: defaults })
  const seen = new Set<string>()
  const once = (what: string, ctx: { error(m: string): void }) => {
    if (seen.has(what)) ctx.error(`${what} is set twice`)
    seen.add(what)
  }
  g.registerRule(
    ([, location], s, ctx) => {
      once('repository', ctx)
      s.repository = location
    },
    'repository',
    string(),
  )
  g.registerRule(
    ([, user], s, ctx) => {
      once('user', ctx)
      if (!/^[a-z_][a-z0-9_-]{0,31}$/i.test(user)) ctx.error(`"${user}" is not a user name`)
      s.user = user
    },
    'user',
    string(),
  )
  g.registerRule(
    ([, , address, opts], s, ctx) => {
      if (address.startsWith('/')) {
        if (opts.port !== undefined || opts.tls !== undefined)
          ctx.error('a UNIX socket takes neither port nor tls')
        s.listen.push({ kind: 'unix', path: address })
        return
      }
      const host = address === '*' ? '0.0.0.0' : address
      if (net.isIP(host) === 0 && host !== 'localhost') {
        ctx.error(`"${address}" is neither an IP address, localhost, * nor an absolute socket path`)
      }
      const port = opts.port?.[1] ?? DEFAULT_PORT
      const tls = opts.tls
      s.listen.push({
        kind: 'tcp',
        host,
        port,
        ...(tls && { tls: { certificate: tls[2], key: tls[4] } }),
      })
    },
    'listen',
    'on',
    string(),
    options({
      port: seq('port', int({ min: 0, max: 65535 })),
      tls: seq('tls', 'certificate', string(), 'key', string()),
    }),
  )
  g.registerRule(
    ([, token, , level], s, ctx) => {
      if (!(ACCESS as readonly string[]).includes(level)) {
        ctx.error(`access must be ${ACCESS.join(', ')}, not "${level}"`)
      }
      if (token.length < 16) ctx.error('a token must be at least 16 characters')
      if (s.tokens.some((t) => t.token === token)) ctx.error('this token is given twice')
      s.tokens.push({ token, access: level as Access })
    },
    'token',
    string(),
    'access',
    string(),
  )
  g.registerRule(
    ([, , n], s, ctx) => {
      once('max connections', ctx)
      s.maxConnections = n
    },
    'max',
    'connections',
    int({ min: 1, max: 100_000 }),
  )
  g.registerRule(
    ([, , n], s, ctx) => {
      once('max object size', ctx)
      s.maxObject = n
    },
    'max',
    'object',
    seq('size', size({ min: 1 << 20, max: MAX_OBJECT })).map(([, n]) => n),
  )
  g.registerRule(
    ([, ms], s, ctx) => {
      once('timeout', ctx)
      s.timeout = ms
    },
    'timeout',
    duration({ min: 1000, max: 86_400_000 }),
  )
  g.registerRule(
    ([, , ms], s, ctx) => {
      once('auth timeout', ctx)
      s.authTimeout = ms
    },
    'auth',
    'timeout',
    duration({ min: 100, max: 600_000 }),
  )
  g.registerRule(
    ([, n], s, ctx) => {
      once('sessions', ctx)
      s.sessions = n
    },
    'sessions',
    int({ min: 1, max: 64 }),
  )
  return new Configuration(lexer, g.freeze())
}

export interface ParsedConfig {
  readonly config: ServerConfig
  readonly warnings: string[]
}

/**
 * Parses a configuration file (it names tokens, so parsey's secret check guards it and
 * every file it includes), or a text given by the caller. Every problem is in the
 * ConfigurationError's message, one diagnostic each, as file:line:col.
 */
export function parseServerConfig(
  source: { file: string } | { text: string; filename: string },
  macros: Record<string, string>,
  /** Listening sockets given on the command line (-listen), added to the file's. */
  extraListen: readonly ListenSpec[] = [],
): ParsedConfig {
  const conf = build()
  const result =
    'file' in source
      ? conf.parseFile(source.file, { macros, secret: true })
      : conf.parseString(source.text, { macros, filename: source.filename })
  const config = result.state
  config.listen.push(...extraListen)
  const problems: string[] = []
  if (config.listen.length === 0) problems.push('no listen statement: say where to listen')
  if (config.tokens.length === 0) problems.push('no token statement: no client could authenticate')
  if (problems.length > 0) {
    const where = 'file' in source ? source.file : source.filename
    throw new ConfigurationError(
      problems.map((p) => new Diagnostic('error', 'value', p, where, 0, 0, undefined)),
    )
  }
  return { config, warnings: result.warnings.map((w) => w.toString()) }
}

/** A -listen ADDR: HOST:PORT, [V6]:PORT, :PORT (every address), or /path/to.sock; undefined if none. */
export function listenSpec(addr: string): ListenSpec | undefined {
  if (addr.startsWith('/')) return { kind: 'unix', path: addr }
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr)
  if (!m) return undefined
  const host = m[1] ?? (m[2] === '' ? '0.0.0.0' : m[2]!)
  const port = Number(m[3])
  if (port > 65535 || (net.isIP(host) === 0 && host !== 'localhost')) return undefined
  return { kind: 'tcp', host, port }
}

export { ConfigurationError }
