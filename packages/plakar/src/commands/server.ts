import { readFileSync } from 'node:fs'
import { CliError } from '../errors.js'
import {
  ConfigurationError,
  type ListenSpec,
  listenSpec,
  parseServerConfig,
  type ServerConfig,
} from '../server/config.js'
import { type Command, EXIT, flagBool, flagList, flagString, usageError } from './command.js'
import type { Context } from './context.js'

export interface ServerOptions {
  readonly listen: readonly string[]
  readonly config: string | undefined
  readonly macros: Record<string, string>
  readonly check: boolean
  readonly debug: boolean
}

function listenSpecs(addrs: readonly string[]): ListenSpec[] {
  return addrs.map((addr) => {
    const spec = listenSpec(addr)
    if (spec === undefined)
      throw usageError('server', `-listen takes HOST:PORT, :PORT or /path/to.sock, not "${addr}"`)
    return spec
  })
}

export async function runServer(ctx: Context, opts: ServerOptions): Promise<number> {
  // Loaded here, not at the top: only the server needs privsep, ipcmsg's addon and parsey.
  const { runDaemon, isServerChild } = await import('../server/daemon.js')
  if (isServerChild()) {
    // A re-executed child: the parent already parsed everything and sends what it needs.
    await runDaemon(undefined)
    return EXIT.OK
  }
  let parsed: { config: ServerConfig; warnings: string[] }
  try {
    const extra = listenSpecs(opts.listen)
    if (opts.config !== undefined) {
      parsed = parseServerConfig({ file: opts.config }, opts.macros, extra)
    } else {
      const token = ctx.io.env.PLAKAR_TOKEN
      if (!token) {
        throw new CliError(
          'CLI_USAGE',
          'server: give -config FILE, or PLAKAR_TOKEN for a token with full access',
        )
      }
      parsed = parseServerConfig(
        { text: 'token $token access full\n', filename: '-listen' },
        { token },
        extra,
      )
    }
  } catch (err) {
    if (err instanceof ConfigurationError) {
      ctx.err(err.message)
      return EXIT.ERROR
    }
    throw err
  }
  for (const w of parsed.warnings) ctx.err(w)
  const config = parsed.config
  if (opts.check) {
    ctx.out('configuration OK\n')
    return EXIT.OK
  }
  const tlsFiles: Record<number, [string, string]> = {}
  for (const [i, spec] of config.listen.entries()) {
    if (spec.kind !== 'tcp' || spec.tls === undefined) continue
    try {
      tlsFiles[i] = [readFileSync(spec.tls.certificate, 'utf8'), readFileSync(spec.tls.key, 'utf8')]
    } catch (err) {
      ctx.err(`plakar: server: ${(err as Error).message}`)
      return EXIT.ERROR
    }
  }
  await runDaemon({
    config,
    location: config.repository ?? ctx.global.repository,
    tlsFiles,
    ...(ctx.io.env.PLAKAR_TOKEN && { upstreamToken: ctx.io.env.PLAKAR_TOKEN }),
    debug: opts.debug,
  })
  return EXIT.OK
}

export const server: Command<ServerOptions> = {
  name: 'server',
  summary: 'serve the repository to plakar:// clients',
  usage: 'server [-listen ADDR]... [-config FILE] [-D name=value]... [-n] [-d]',
  help: `Serve REPOSITORY (or the configuration's repository) to remote clients, which reach it as
plakar://HOST:PORT, plakar+unix:///PATH or plakar+tls://HOST:PORT. The server is a
privilege-separated daemon: a parent that keeps root and binds the sockets, a listener,
session processes that speak the protocol unprivileged in an empty jail, and a storage
process, the only one that reaches the repository. docs/plakar-server.md has the
configuration language and the promises.

-config FILE reads the configuration (it names tokens: it must be closed to group and
others). -D name=value defines a macro the file uses as $name (a token, say). Without
-config, -listen says where to listen and PLAKAR_TOKEN is the one token, with full access.
-listen adds to the configuration's listen statements.
-n checks the configuration, prints every problem as file:line:col, and exits.
The server stays in the foreground and logs one line per event to stderr (start, refused
tokens and connections, protocol violations, a process lost, shutdown); -d also logs every
connection and privsep's own lines.`,
  exit: ['1  the configuration has errors (all printed), or the daemon stopped on a failure'],
  flags: [
    { name: 'listen', kind: 'list', arg: 'ADDR', help: 'HOST:PORT, :PORT or /path/to.sock' },
    { name: 'config', kind: 'string', arg: 'FILE', help: 'the configuration file' },
    { name: 'D', kind: 'list', arg: 'name=value', help: 'a macro for the configuration' },
    { name: 'n', kind: 'bool', help: 'check the configuration and exit' },
    { name: 'd', kind: 'bool', help: 'foreground, log to stderr' },
  ],
  parse(p) {
    if (p.args.length > 0) throw usageError('server', `unexpected argument ${p.args[0]}`)
    const macros: Record<string, string> = {}
    for (const d of flagList(p, 'D')) {
      const eq = d.indexOf('=')
      if (eq <= 0) throw usageError('server', `-D takes name=value, not "${d}"`)
      macros[d.slice(0, eq)] = d.slice(eq + 1)
    }
    const listen = flagList(p, 'listen')
    listenSpecs(listen)
    const config = flagString(p, 'config')
    if (config === undefined && listen.length === 0)
      throw usageError('server', 'give -config FILE or -listen ADDR')
    return { listen, config, macros, check: flagBool(p, 'n'), debug: flagBool(p, 'd') }
  },
  run: runServer,
}
