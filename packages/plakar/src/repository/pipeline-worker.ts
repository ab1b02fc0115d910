/**
 * A pipeline worker (worker_threads entry; tsup emits it as dist/pipeline-worker.{js,cjs}):
 * a Sealer (sealer.ts) on its own thread, with flow control. See pipeline-protocol.ts for
 * the messages.
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

const init = workerData as WorkerInit
if (init.version !== PROTOCOL_VERSION)
  throw new Error(`pipeline worker: protocol ${init.version} unsupported`)

const credits = new Int32Array(init.credits)

/** Blocks until the main thread gives a credit back (it has packed an earlier message). */
function takeCredit(): void {
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
  () => {
    // The credit frees the slot used CREDITS messages ago: the main thread packs in order.
    takeCredit()
    const i = nextSlot++ % CREDITS
    return new Uint8Array(init.slots, i * slot, slot)
  },
  (msg, transfer) => parentPort!.postMessage(msg, transfer),
  // Test seam: "always" takes the cold-cache path for every small file, so that tests, which
  // run on a warm page cache, cover it too.
  process.env.PLAKAR_READ_AHEAD === 'always',
)

// Tasks run one after the other, in arrival order (the main thread relies on it).
let queue: Promise<void> = Promise.resolve()

parentPort!.on('message', (msg: TaskMessage) => {
  queue = queue.then(() => sealer.runTask(msg))
})
