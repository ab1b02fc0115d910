import type { BlobOpenerSpec } from './blob-opener.js'
import type { SealedBatchData } from './sealed-batch.js'

/**
 * Messages between a BlobPool (main thread, blob-pool.ts) and its workers (blob-pool-worker.ts).
 * Both ends are always the same build; the version only guards against a stale dist/ file.
 *
 * workerData: BlobPoolInit, the repository's opener (keys, compression: read by the
 *   repository's worker host only) and the consumer's own `init`.
 * main -> worker: BlobPoolRequest, a sealed batch (its ranges transferred) and the consumer's
 *   payload for it.
 * worker -> main: BlobPoolReply, the consumer's reply to that request, or `bug` when the
 *   consumer threw (a bug: what fails per item is the consumer's reply to say). Requests are
 *   answered one at a time, in order of arrival.
 */
export const BLOB_POOL_VERSION = 1

export interface BlobPoolInit<I = unknown> {
  readonly version: number
  readonly opener: BlobOpenerSpec
  readonly init: I
}

export interface BlobPoolRequest<P = unknown> {
  readonly seq: number
  readonly batch: SealedBatchData
  readonly payload: P
}

export interface BlobPoolReply<R = unknown> {
  readonly seq: number
  readonly reply: R | null
  readonly bug: string | null
}

/** The reply of the repository's own blob worker (blob-worker.ts): the batch's contents. */
export interface ContentsReply {
  /** Blob k's content length in `data`, or -1 when it failed (`errors[k]`). */
  readonly lengths: Int32Array
  readonly errors: readonly (string | null)[]
  readonly data: ArrayBuffer
}
