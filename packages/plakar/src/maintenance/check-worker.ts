/**
 * The check's worker (worker_threads entry; tsup emits dist/check-worker.{js,cjs}): opens
 * every blob of a batch, which authenticates, decompresses and checks it against its id,
 * and answers only with the failures. The contents never leave the worker.
 */
import { serveBlobPool } from '../repository/blob-pool-worker.js'
import type { CheckReply } from './check-protocol.js'

serveBlobPool<null, null, CheckReply>(() => (batch) => {
  const failures: [number, string][] = []
  for (let k = 0; k < batch.count; k++) {
    const unreadable = batch.error(k)
    if (unreadable !== null) {
      failures.push([k, unreadable])
      continue
    }
    try {
      batch.open(k)
    } catch (err) {
      failures.push([k, err instanceof Error ? err.message : String(err)])
    }
  }
  return { reply: { failures } }
})
