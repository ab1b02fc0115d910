import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Worker, type WorkerOptions } from 'node:worker_threads'

/**
 * Starts the pipeline worker from wherever this module runs:
 * - from dist/ (the published build): the sibling file tsup emits, pipeline-worker.js for
 *   the ESM build and pipeline-worker.cjs for the CJS one;
 * - from src/ (vitest, tsx): the TypeScript source, through tsx's loader registered inside
 *   the worker first, since a worker does not inherit the parent's loader hooks.
 */
export function startPipelineWorker(options: WorkerOptions): Worker {
  const here = import.meta.url
  if (here.endsWith('.ts')) {
    const entry = new URL('./pipeline-worker.ts', here).href
    const tsxDir = dirname(createRequire(here).resolve('tsx/package.json'))
    const tsx = pathToFileURL(join(tsxDir, 'dist/esm/api/index.mjs')).href
    const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}) })`
    return new Worker(code, { ...options, eval: true })
  }
  const ext = here.endsWith('.cjs') ? '.cjs' : '.js'
  const file = join(dirname(fileURLToPath(here)), `pipeline-worker${ext}`)
  if (!existsSync(file)) throw new Error(`plakar: pipeline worker not found at ${file} (incomplete build?)`)
  return new Worker(file, options)
}
