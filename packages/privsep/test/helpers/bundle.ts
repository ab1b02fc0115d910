/**
 * Examples and fixtures bundled to plain JavaScript once per run, so the daemons tests
 * start in a loop boot in a fraction of a second (tsx costs ~0.6 s of CPU per process, and
 * a daemon is seven). @poolp/privsep is bundled from src/, as vitest imports it;
 * @poolp/ipcmsg stays external (its addon is found next to its dist/).
 */
import { rmSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'tsup'

export const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
// One directory per test worker: vitest runs test files in parallel processes.
const outDir = join(packageDir, 'build', 'bundles', String(process.pid))
process.on('exit', () => rmSync(outDir, { recursive: true, force: true }))

let built: Promise<void> | undefined

/** Path of the bundled `examples/<name>.ts` or `test/fixtures/<name>.ts`, built on first use. */
export async function bundled(entry: string): Promise<string> {
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
