import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Tool, ToolContext } from './tool.js'

const PACKAGE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

/** The built CLI: the benchmark measures what users run, never the TypeScript sources. */
export function plakarCli(): string | undefined {
  const cli = path.join(PACKAGE, 'dist/plakar.js')
  return fs.existsSync(cli) ? cli : undefined
}

export type PlakarBackend = 'fs' | 'sqlite'

function location(ctx: ToolContext, backend: PlakarBackend): string {
  return backend === 'fs'
    ? `fs://${path.join(ctx.repo, 'repo')}`
    : `sqlite://${path.join(ctx.repo, 'repo.db')}`
}

function env(ctx: ToolContext): Record<string, string> {
  return { PLAKAR_PASSPHRASE: ctx.passphrase, XDG_CACHE_HOME: path.join(ctx.home, 'cache'), HOME: ctx.home }
}

/** plakar as users run it: encryption and compression on (the defaults of `create`). */
export interface PlakarOptions {
  readonly backend: PlakarBackend
  readonly cpus?: number
  /** Write V8 CPU profiles (main thread and each worker) under this directory, per step. */
  readonly cpuProfileDir?: string
  /** Another build of the CLI to measure (default: this package's dist/plakar.js). */
  readonly cli?: string
}

export function plakar({ backend, cpus, cpuProfileDir, cli: cliPath }: PlakarOptions): Tool {
  const cli = () => cliPath ?? plakarCli()
  const cpu = cpus === undefined ? [] : ['-cpu', String(cpus)]
  // Profiles name the step: push-<pid>, pull-<pid>; each worker thread writes its own.
  const prof = (step: string) =>
    cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', path.join(cpuProfileDir, step)] : []
  const command = (ctx: ToolContext, ...args: string[]) => ({
    cmd: process.execPath,
    args: [...prof(args[0]!), cli() ?? 'plakar-cli-not-built', ...cpu, 'on', location(ctx, backend), ...args],
    env: env(ctx),
  })
  return {
    name: 'plakar',
    installHint: 'build it first: pnpm --filter @poolp/plakar build',
    settings: `${backend} backend, defaults of create (encryption and compression on)${cpus ? `, -cpu ${cpus}` : ''}`,
    version() {
      const entry = cli()
      if (!entry || !fs.existsSync(entry)) return undefined
      try {
        return `${execFileSync(process.execPath, [entry, 'version'], { encoding: 'utf8' }).trim()} (${entry})`
      } catch {
        return undefined
      }
    },
    init: (ctx) => command(ctx, 'create'),
    backup: (ctx, source) => command(ctx, 'push', source),
    restore: (ctx, target) => command(ctx, 'pull', '-path', target, 'latest'),
  }
}
