import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { GNU_TIME } from './measure.js'
import { type PlakarBackend, plakarCli } from './tools/plakar.js'
import { dropSchema } from './tools/postgres.js'

/**
 * Command-line parsing for the bench scripts: a mistyped option is the user's mistake, not a
 * bug, so it gets one line and exit status 2 instead of a stack trace.
 */
export function parseOrExit<T>(script: string, parse: () => T): T {
  try {
    return parse()
  } catch (err) {
    const first = (err as Error).message.split('\n')[0]
    console.error(`${script}: ${first} (values starting with - take --name=VALUE)`)
    process.exit(2)
  }
}

/**
 * The flags every full benchmark takes, for parseArgs: the corpus (--scale, --seed), the
 * runs, and the work directory (PLAKAR_BENCH_DIR, else the system's temporary directory).
 */
export const RUN_OPTIONS = {
  scale: { type: 'string', default: '1' },
  runs: { type: 'string', default: '3' },
  seed: { type: 'string', default: '1' },
  work: { type: 'string', default: process.env.PLAKAR_BENCH_DIR ?? path.join(os.tmpdir(), 'plakar-bench') },
} as const

/** The script's arguments: pnpm run passes a literal `--` on (pnpm bench -- --runs 3). */
export function scriptArgs(): string[] {
  return process.argv[2] === '--' ? process.argv.slice(3) : process.argv.slice(2)
}

/** The flags compare.ts and maintenance.ts share, as parseArgs gives them. */
export interface CommonValues {
  readonly scale: string
  readonly runs: string
  readonly seed: string
  readonly nice: string
  readonly 'plakar-backend': string
  readonly 'plakar-cpu'?: string
}

/** Those flags checked, each mistake one line through `fail` (which exits). */
export function commonOptions(values: CommonValues, fail: (message: string) => never) {
  const scale = Number(values.scale)
  const runs = Number(values.runs)
  const seed = Number(values.seed)
  const nice = Number(values.nice)
  if (!(scale > 0 && scale <= 4)) fail('--scale must be in (0, 4]')
  if (!Number.isInteger(runs) || runs < 1) fail('--runs must be a positive integer')
  if (!Number.isInteger(seed)) fail('--seed must be an integer')
  if (!Number.isInteger(nice) || nice < -20 || nice > 19) fail('--nice must be an integer from -20 to 19')
  const backend = values['plakar-backend']
  if (backend !== 'fs' && backend !== 'sqlite') fail('--plakar-backend must be fs or sqlite')
  const cpu = values['plakar-cpu'] === undefined ? undefined : Number(values['plakar-cpu'])
  if (cpu !== undefined && !(Number.isInteger(cpu) && cpu > 0))
    fail('--plakar-cpu must be a positive integer')
  return { scale, runs, seed, nice, backend: backend as PlakarBackend, cpu }
}

/**
 * What bench:server and bench:transfer share: --scale, --runs, --seed, --postgres (the
 * server to measure) and --work checked, the built CLI, GNU time and `tools` present (each
 * missing one a line and exit status 2), and a way to drop a schema of that server.
 */
export function backendBenchOptions(script: string, tools: readonly string[]) {
  const fail = (message: string): never => {
    console.error(`${script}: ${message}`)
    process.exit(2)
  }
  const { values } = parseOrExit(script, () =>
    parseArgs({
      args: scriptArgs(),
      options: {
        ...RUN_OPTIONS,
        postgres: { type: 'string', default: 'postgres://root@127.0.0.1:5432/test' },
      },
    }),
  )
  const scale = Number(values.scale)
  const runs = Number(values.runs)
  const seed = Number(values.seed)
  if (!(scale > 0 && scale <= 4)) fail('--scale must be in (0, 4]')
  if (!Number.isInteger(runs) || runs < 1) fail('--runs must be a positive integer')
  const cli = plakarCli() ?? fail('build plakar first: pnpm --filter @poolp/plakar build')
  if (!fs.existsSync(GNU_TIME)) fail('GNU time is missing: apt-get install -y time')
  for (const tool of tools) {
    if (spawnSync(tool, ['version'], { stdio: 'ignore' }).status !== 0)
      fail(`${tool} is missing: apt-get install -y ${tool}`)
  }
  const postgres = values.postgres
  return {
    scale,
    runs,
    seed,
    postgres,
    work: path.resolve(values.work),
    cli,
    fail,
    /** Drops `schema` of --postgres, if there (a failure to reach it ends the script). */
    dropSchema(schema: string): void {
      const failed = dropSchema(postgres, schema)
      if (failed !== undefined) fail(failed)
    },
  }
}
