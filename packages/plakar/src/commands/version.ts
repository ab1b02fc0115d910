import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SNAPSHOT_VERSION } from '../snapshot/index.js'
import { type Command, EXIT, usageError } from './command.js'
import type { Context } from './context.js'

/** The package version, from the package.json above this file (in src/ and in dist/ alike). */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string
        version?: string
      }
      if (pkg.name === '@poolp/plakar') return pkg.version ?? 'unknown'
    } catch {}
    dir = dirname(dir)
  }
  return 'unknown'
}

export async function runVersion(ctx: Context): Promise<number> {
  ctx.out(
    `plakar ${packageVersion()} (@poolp/plakar, snapshot format ${SNAPSHOT_VERSION}, node ${process.version})\n`,
  )
  return EXIT.OK
}

export const version: Command<Record<string, never>> = {
  name: 'version',
  summary: 'print the version',
  usage: 'version',
  help: 'Print the version of plakar, the snapshot format it writes, and the Node.js it runs on.',
  flags: [],
  parse(p) {
    if (p.args.length > 0) throw usageError('version', `unexpected argument ${p.args[0]}`)
    return {}
  },
  run: runVersion,
}
