import type { Worker, WorkerOptions } from 'node:worker_threads'
import { startWorker } from '../platform/worker.js'

/** Starts a pipeline worker (pipeline-worker.ts), from dist/ or from the sources (see startWorker). */
export function startPipelineWorker(options: WorkerOptions): Worker {
  return startWorker('pipeline-worker', new URL('./pipeline-worker.ts', import.meta.url), options)
}
