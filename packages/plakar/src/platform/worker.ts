import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Worker, type WorkerOptions } from 'node:worker_threads'

/**
 * Starts one of plakar's worker entries (pipeline-worker, restore-worker) from wherever this
 * code runs:
 * - from dist/ (the published build): the sibling file tsup emits for the entry, `<name>.js`
 *   for the ESM build and `<name>.cjs` for the CJS one (the bundles, the CLI and the worker
 *   entries all sit in dist/);
 * - from src/ (vitest, tsx): `source`, the entry's TypeScript file, through tsx's loader
 *   registered inside the worker first, since a worker does not inherit the parent's hooks.
 */
export function startWorker(name: string, source: URL, options: WorkerOptions): Worker {
  const here = import.meta.url
  if (here.endsWith('.ts')) {
    const tsxDir = dirname(createRequire(here).resolve('tsx/package.json'))
    const tsx = pathToFileURL(join(tsxDir, 'dist/esm/api/index.mjs')).href
    const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(source.href)}) })`
    return new Worker(code, { ...options, eval: true })
  }
  const ext = here.endsWith('.cjs') ? '.cjs' : '.js'
  const file = join(dirname(fileURLToPath(here)), `${name}${ext}`)
  if (!existsSync(file)) throw new Error(`plakar: ${name} not found at ${file} (incomplete build?)`)
  return new Worker(file, options)
}
