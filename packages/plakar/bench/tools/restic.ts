import { execFileSync } from 'node:child_process'
import path from 'node:path'
import type { Tool, ToolContext } from './tool.js'

function env(ctx: ToolContext): Record<string, string> {
  return { RESTIC_PASSWORD: ctx.passphrase, RESTIC_CACHE_DIR: path.join(ctx.home, 'cache'), HOME: ctx.home }
}

/** restic with its defaults: AES-256 + Poly1305, zstd "auto" (repository format 2). */
export const restic: Tool = {
  name: 'restic',
  installHint: 'apt-get install -y restic',
  settings: 'defaults (AES-256-CTR + Poly1305-AES, zstd auto)',
  version() {
    try {
      return execFileSync('restic', ['version'], { encoding: 'utf8' }).trim()
    } catch {
      return undefined
    }
  },
  init: (ctx) => ({ cmd: 'restic', args: ['-r', ctx.repo, 'init'], env: env(ctx) }),
  backup: (ctx, source) => ({
    cmd: 'restic',
    args: ['-r', ctx.repo, 'backup', '--host', 'bench', source],
    env: env(ctx),
  }),
  restore: (ctx, target) => ({
    cmd: 'restic',
    args: ['-r', ctx.repo, 'restore', 'latest', '--target', target],
    env: env(ctx),
  }),
}
