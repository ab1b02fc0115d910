import { spawnSync } from 'node:child_process'

/**
 * Drops a benchmark's own schema (psql), before and after a run. Returns the failure's
 * text, or undefined when it went.
 */
export function dropSchema(url: string, schema: string): string | undefined {
  const r = spawnSync('psql', [url, '-qc', `DROP SCHEMA IF EXISTS "${schema}" CASCADE`], { encoding: 'utf8' })
  return r.status === 0 ? undefined : `psql ${url}: ${r.stderr.trim()}`
}
