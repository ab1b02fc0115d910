import { Worker } from 'node:worker_threads'

/**
 * The bytes a push is about to read, for its ETA: a walk of the same paths (lstat only) on
 * a worker thread, so it never slows the archiver's thread. Started only when progress is
 * shown (a terminal). Exclusions are not applied: the estimate can only be high, and the
 * newest snapshot of the same paths, when there is one, is used instead.
 */
const WALKER = `
const { parentPort, workerData } = require('node:worker_threads')
const fs = require('node:fs')
let bytes = 0
const stack = workerData.paths.map((p) => Buffer.from(p))
while (stack.length > 0) {
  const p = stack.pop()
  let st
  try { st = fs.lstatSync(p) } catch { continue }
  if (st.isFile()) bytes += st.size
  else if (st.isDirectory()) {
    let names = []
    try { names = fs.readdirSync(p, { encoding: 'buffer' }) } catch {}
    for (const n of names) stack.push(Buffer.concat([p, Buffer.from('/'), n]))
  }
}
parentPort.postMessage(bytes)
`

export class SizeScan {
  private bytes: number | undefined
  private readonly worker: Worker

  constructor(paths: readonly string[]) {
    this.worker = new Worker(WALKER, { eval: true, workerData: { paths } })
    this.worker.on('message', (n: number) => {
      this.bytes = n
    })
    // An estimate: a failure only means no ETA.
    this.worker.on('error', () => {})
    this.worker.unref()
  }

  /** The total once the walk has finished, else undefined. */
  get total(): number | undefined {
    return this.bytes
  }

  stop(): void {
    void this.worker.terminate()
  }
}
