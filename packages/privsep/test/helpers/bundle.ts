/**
 * Examples and fixtures bundled to plain JavaScript once per run, so the daemons tests
 * start in a loop boot in a fraction of a second (tsx costs ~0.6 s of CPU per process, and
 * a daemon is seven). @poolp/privsep is bundled from src/, as vitest imports it;
 * @poolp/ipcmsg stays external (its addon is found next to its dist/).
 */
import { readdirSync, rmSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'tsup'

export const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
// One directory per test worker (vitest runs test files in parallel processes); those of
// workers that are gone are removed, since vitest may end a worker without an 'exit' event.
const bundlesDir = join(packageDir, 'build', 'bundles')
const outDir = join(bundlesDir, String(process.pid))

function removeStale(): void {
  let entries: string[] = []
  try {
    entries = readdirSync(bundlesDir)
  } catch {
    return
  }
  for (const entry of entries) {
    const pid = Number(entry)
    if (!Number.isInteger(pid) || pid === process.pid) continue
    try {
      process.kill(pid, 0)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH')
        rmSync(join(bundlesDir, entry), { recursive: true, force: true })
    }
  }
}

let built: Promise<void> | undefined

/** Path of the bundled `examples/<name>.ts` or `test/fixtures/<name>.ts`, built on first use. */
export async function bundled(entry: string): Promise<string> {
  removeStale()
  built ??= build({
    entry: {
      pingpong: join(packageDir, 'examples/pingpong.ts'),
      smtpd: join(packageDir, 'examples/smtpd.ts'),
      'bad-declaration': join(packageDir, 'test/fixtures/bad-declaration.ts'),
      jail: join(packageDir, 'test/fixtures/jail.ts'),
    },
    outDir,
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    bundle: true,
    splitting: false,
    sourcemap: false,
    dts: false,
    clean: false,
    silent: true,
    external: ['@poolp/ipcmsg'],
    noExternal: ['@poolp/privsep'],
    esbuildOptions(options) {
      options.conditions = ['@poolp/source']
    },
  })
  await built
  return join(outDir, `${entry}.js`)
}
