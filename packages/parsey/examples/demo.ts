/**
 * The parsey demo (`pnpm demo` at the root, or in this package): parses the
 * sample smtpd.conf with the example grammar and prints the typed
 * configuration, then shows the report parsey gives for a broken file.
 * Exits 0 when both behave as expected, 1 otherwise.
 */
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ConfigurationError } from '@poolp/parsey'
import { parsePfConf } from './pf/grammar.js'
import { parseSmtpdConf } from './smtpd/grammar.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const rel = (p: string) => path.relative(process.cwd(), p)
const json = (v: unknown) => JSON.stringify(v, (_k, x) => (x instanceof Map ? Object.fromEntries(x) : x), 2)

function main(): number {
  const good = path.join(here, 'smtpd', 'smtpd.conf')
  console.log(`== ${rel(good)}: parsed into a typed SmtpdConfig\n`)
  const { state } = parseSmtpdConf(rel(good))
  console.log(json(state))
  console.log(
    `\n${state.listeners.length} listeners, ${state.tables.size} tables, ${state.actions.size} actions, ` +
      `${state.matches.length} match rules; queue ttl ${state.queueTtl! / 3_600_000}h, ` +
      `max message size ${state.maxMessageSize! / 1024 / 1024}M`,
  )

  const pf = path.join(here, 'pf', 'pf.conf')
  const rules = parsePfConf(rel(pf), { macros: { ext_if: 'vio0' } }).state.rules
  console.log(`\n== ${rel(pf)} with -D ext_if=vio0: ${rules.length} rules`)
  for (const r of rules.slice(0, 4)) {
    const on = r.interfaces.map((i) => i.name).join(',') || '*'
    console.log(
      `  line ${r.line}: ${r.action} ${r.direction ?? ''} on ${on} proto ${r.protocols.join(',') || '*'}`,
    )
  }

  const bad = path.join(here, 'smtpd', 'bad-smtpd.conf')
  console.log(`\n== ${rel(bad)}: every error, reported once at the end\n`)
  try {
    parseSmtpdConf(rel(bad))
  } catch (err) {
    if (!(err instanceof ConfigurationError)) throw err
    console.log(err.message)
    console.log(`\n${err.errors.length} errors; a daemon would print that and exit 1.`)
    return 0
  }
  console.error('the bad file was accepted')
  return 1
}

process.exitCode = main()
