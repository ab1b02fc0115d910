/**
 * The worker side of a writer's pipeline: what a pipeline worker entry (the snapshot layer's
 * archive-worker.ts) runs, with its source reader. A Sealer (sealer.ts) on this thread, with
 * flow control; see pipeline-protocol.ts for the messages. The keys arrive in workerData and
 * stay in the sealer: the reader only hands bytes over.
 */
import { parentPort, workerData } from 'node:worker_threads'
import {
  CREDITS,
  PROTOCOL_VERSION,
  slotBytes,
  type TaskMessage,
  type WorkerInit,
} from './pipeline-protocol.js'
import { Sealer } from './sealer.js'
import type { SourceReader } from './source.js'

export function servePipeline<S>(reader: () => SourceReader<S>): void {
  const init = workerData as WorkerInit
  if (init.version !== PROTOCOL_VERSION)
    throw new Error(`pipeline worker: protocol ${init.version} unsupported`)
  const credits = new Int32Array(init.credits)

  /** Blocks until the main thread gives a credit back (it has packed an earlier message). */
  const takeCredit = (): void => {
    for (;;) {
      const v = Atomics.load(credits, 0)
      if (v > 0) {
        if (Atomics.compareExchange(credits, 0, v, v - 1) === v) return
      } else {
        Atomics.wait(credits, 0, v)
      }
    }
  }

  const slot = slotBytes(init.chunking.max)
  let nextSlot = 0
  const sealer = new Sealer(
    init,
    reader() as SourceReader<unknown>,
    () => {
      // The credit frees the slot used CREDITS messages ago: the main thread packs in order.
      takeCredit()
      const i = nextSlot++ % CREDITS
      return new Uint8Array(init.slots, i * slot, slot)
    },
    (msg, transfer) => parentPort!.postMessage(msg, transfer),
  )

  // Tasks run one after the other, in arrival order (the main thread relies on it).
  let queue: Promise<void> = Promise.resolve()
  parentPort!.on('message', (msg: TaskMessage) => {
    queue = queue.then(() => sealer.runTask(msg))
  })
}
