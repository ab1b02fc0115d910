/**
 * The check's worker (worker_threads entry; tsup emits dist/check-worker.{js,cjs}): opens
 * every blob of a batch, which authenticates, decompresses and checks it against its id,
 * and hashes the file contents the batch carries, in order, across batches (a content's
 * batches all come to the same worker, in order). It answers with the failures and the
 * digests of the contents read whole; the contents never leave the worker.
 */
import { createHash, type Hash, hash } from 'node:crypto'
import { serveBlobPool } from '../repository/blob-pool-worker.js'
import type { CheckPayload, CheckReply } from './check-protocol.js'

serveBlobPool<null, CheckPayload | null, CheckReply>(() => {
  const open = new Map<number, Hash>()
  /** Contents with a blob that failed: their digest means nothing (the blob is reported). */
  const tainted = new Set<number>()
  return (batch, payload) => {
    const failures: [number, string][] = []
    const failed = new Set<number>()
    for (let k = 0; k < batch.count; k++) {
      const unreadable = batch.error(k)
      if (unreadable !== null) {
        failures.push([k, unreadable])
        failed.add(k)
        continue
      }
      if (payload !== null) continue // opened below, in file order
      try {
        batch.open(k)
      } catch (err) {
        failures.push([k, err instanceof Error ? err.message : String(err)])
      }
    }
    const digests: [number, Uint8Array][] = []
    if (payload !== null) {
      let at = 0
      for (const [content, count, last] of payload.sections) {
        // A content whole in this batch and in one chunk (most small files): one-shot, no
        // Hash object. Thousands of those per batch are native memory V8 does not see, and
        // it let them pile up to about 100 MB per worker before collecting them.
        if (count === 1 && last && !open.has(content)) {
          const k = payload.order[at++]!
          if (failed.has(k)) continue
          try {
            digests.push([content, hash('sha256', batch.open(k), 'buffer')])
          } catch (err) {
            failed.add(k)
            failures.push([k, err instanceof Error ? err.message : String(err)])
          }
          continue
        }
        let h = open.get(content)
        if (h === undefined) {
          h = createHash('sha256')
          open.set(content, h)
        }
        for (let i = 0; i < count; i++, at++) {
          const k = payload.order[at]!
          if (failed.has(k)) {
            tainted.add(content)
            continue
          }
          try {
            h.update(batch.open(k))
          } catch (err) {
            failed.add(k)
            tainted.add(content)
            failures.push([k, err instanceof Error ? err.message : String(err)])
          }
        }
        if (last) {
          open.delete(content)
          const digest = h.digest()
          if (!tainted.delete(content)) digests.push([content, digest])
        }
      }
    }
    return { reply: { failures, digests } }
  }
})
