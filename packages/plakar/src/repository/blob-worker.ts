/**
 * The repository's own blob worker (worker_threads entry; tsup emits dist/blob-worker.{js,cjs}):
 * opens each blob of a batch and hands the contents back, back to back in one transferred
 * buffer (Repository.loadBlobs off the main thread).
 */
import type { ContentsReply } from './blob-pool-protocol.js'
import { serveBlobPool } from './blob-pool-worker.js'

serveBlobPool<null, null, ContentsReply>(() => (batch) => {
  const n = batch.count
  const lengths = new Int32Array(n)
  const errors: (string | null)[] = new Array(n).fill(null)
  const parts: Uint8Array[] = []
  let total = 0
  for (let k = 0; k < n; k++) {
    try {
      // open() reuses its buffer: copy before the next one.
      const raw = new Uint8Array(batch.open(k))
      parts.push(raw)
      lengths[k] = raw.length
      total += raw.length
    } catch (err) {
      lengths[k] = -1
      errors[k] = err instanceof Error ? err.message : String(err)
    }
  }
  const data = new Uint8Array(total)
  let at = 0
  for (const p of parts) {
    data.set(p, at)
    at += p.length
  }
  return { reply: { lengths, errors, data: data.buffer }, transfer: [lengths.buffer, data.buffer] }
})
