import { execFileSync } from 'node:child_process'
import type { Tool, ToolContext } from './tool.js'

function env(ctx: ToolContext): Record<string, string> {
  return {
    BORG_PASSPHRASE: ctx.passphrase,
    BORG_BASE_DIR: ctx.home,
    BORG_DISPLAY_PASSPHRASE: 'no',
    BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes',
    HOME: ctx.home,
  }
}

/** borg 1.2 with repokey encryption; `compression` is borg's spec, e.g. `zstd,3` or `lz4`. */
export function borg(compression: string): Tool {
  return {
    name: 'borg',
    installHint: 'apt-get install -y borgbackup',
    settings: `repokey (AES-256-CTR + HMAC-SHA256), ${compression}`,
    version() {
      try {
        return execFileSync('borg', ['--version'], { encoding: 'utf8' }).trim()
      } catch {
        return undefined
      }
    },
    init: (ctx) => ({ cmd: 'borg', args: ['init', '--encryption=repokey', ctx.repo], env: env(ctx) }),
    backup: (ctx, source, n) => ({
      cmd: 'borg',
      args: ['create', '--compression', compression, `${ctx.repo}::backup-${n}`, source],
      env: env(ctx),
    }),
    // borg extracts into the working directory.
    restore: (ctx, target, n) => ({
      cmd: 'borg',
      args: ['extract', `${ctx.repo}::backup-${n}`],
      env: env(ctx),
      cwd: target,
    }),
  }
}
