import { parentPort, workerData } from 'node:worker_threads'
import { blobOpener } from './blob-opener.js'
import {
  BLOB_POOL_VERSION,
  type BlobPoolInit,
  type BlobPoolReply,
  type BlobPoolRequest,
} from './blob-pool-protocol.js'
import { type OpenBlob, openIn, type SealedBatchData } from './sealed-batch.js'

/**
 * The worker side of a BlobPool: what a worker entry (the repository's blob-worker.ts, the
 * restore's restore-worker.ts) runs. The repository's opener is built here from workerData;
 * the consumer gets each batch as an OpenedBatch, whose blobs it opens one by one, and never
 * sees a key.
 */

/** A batch on a worker. open(k)'s content is valid until the next open (a reused buffer). */
export class OpenedBatch {
  private last = -1
  private lastContent: Uint8Array = new Uint8Array(0)

  constructor(
    private readonly batch: SealedBatchData,
    private readonly opener: OpenBlob,
  ) {}

  get count(): number {
    return this.batch.lengths.length
  }

  id(k: number): Uint8Array {
    return this.batch.ids.subarray(32 * k, 32 * k + 32)
  }

  /** Why blob k could not be read (its pack range failed), or null. */
  error(k: number): string | null {
    return this.batch.rangeErrors[this.batch.ranges[k]!] ?? null
  }

  /**
   * Blob k's verified content; REPO_CORRUPT when damaged. The same blob twice in a row (the
   * zero blocks of a sparse file) is opened once.
   */
  open(k: number): Uint8Array {
    if (k !== this.last) {
      this.last = -1
      this.lastContent = openIn(this.batch, k, this.opener)
      this.last = k
    }
    return this.lastContent
  }
}

export interface Consumed<R> {
  readonly reply: R
  readonly transfer?: readonly ArrayBuffer[]
}

/** Serves the pool's requests on this worker: `setup(init)` once, then its consumer per batch. */
export function serveBlobPool<I, P, R>(
  setup: (init: I) => (batch: OpenedBatch, payload: P) => Consumed<R>,
): void {
  const data = workerData as BlobPoolInit<I>
  if (data.version !== BLOB_POOL_VERSION)
    throw new Error(`blob pool worker: protocol ${data.version} unsupported`)
  const opener = blobOpener(data.opener, { reuse: true })
  const consume = setup(data.init)
  parentPort!.on('message', (req: BlobPoolRequest<P>) => {
    let out: BlobPoolReply<R>
    let transfer: readonly ArrayBuffer[] = []
    try {
      const done = consume(new OpenedBatch(req.batch, opener), req.payload)
      out = { seq: req.seq, reply: done.reply, bug: null }
      transfer = done.transfer ?? []
    } catch (err) {
      out = {
        seq: req.seq,
        reply: null,
        bug: err instanceof Error ? (err.stack ?? err.message) : String(err),
      }
    }
    parentPort!.postMessage(out, transfer as ArrayBuffer[])
  })
}
