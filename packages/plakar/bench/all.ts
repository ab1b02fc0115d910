/**
 * `pnpm bench`: compare.ts (backup and restore) then maintenance.ts (check and prune), with
 * the same flags for both; maintenance.ts accepts every flag of compare.ts (it ignores the
 * ones that are compare.ts's alone). A script that fails stops the sequence with its status.
 *
 *   pnpm bench [compare.ts's flags]
 */
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { scriptArgs } from './args.js'

const here = path.dirname(fileURLToPath(import.meta.url))
// Without the `--` pnpm passes on, which compare.ts would take for a positional.
const args = scriptArgs()
for (const script of ['compare.ts', 'maintenance.ts']) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, script), ...args], {
    stdio: 'inherit',
  })
  if (r.status !== 0) process.exit(r.status ?? 1)
}
