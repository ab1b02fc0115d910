import type { WorkerEntry } from '../repository/index.js'

/** What a check worker answers for one batch: the blobs (by batch index) that failed, and why. */
export interface CheckReply {
  readonly failures: readonly (readonly [number, string])[]
}

/** The check worker, as a blob pool starts it. */
export const CHECK_WORKER: WorkerEntry = {
  name: 'check-worker',
  source: new URL('./check-worker.ts', import.meta.url),
}
