import type { WorkerEntry } from '../repository/index.js'

/**
 * What the check sends a worker with each batch: the order of the batch's blobs as files
 * use them, and which file contents they make up. With none (a pack-order read) the worker
 * only opens every blob.
 */
export interface CheckPayload {
  /** Blob k of the batch for each chunk, in file order (a blob may repeat). */
  readonly order: Uint32Array
  /** [content id, chunks of `order` it takes, whether its last chunk is in this batch]. */
  readonly sections: readonly (readonly [number, number, boolean])[]
}

/** What a check worker answers for one batch. */
export interface CheckReply {
  /** The blobs (by batch index) that failed, and why. */
  readonly failures: readonly (readonly [number, string])[]
  /** SHA-256 of each content whose last chunk was in the batch, over all its chunks. */
  readonly digests: readonly (readonly [number, Uint8Array])[]
}

/** The check worker, as a blob pool starts it. */
export const CHECK_WORKER: WorkerEntry = {
  name: 'check-worker',
  source: new URL('./check-worker.ts', import.meta.url),
}
