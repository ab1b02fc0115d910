import { QueryAbortedError, QueryTimeoutError } from './errors.js'
import type { Message } from './message.js'

interface Pending {
  resolve(msg: Message): void
  reject(err: Error): void
}

// Abandoned ids are remembered so their late replies can be recognised and
// dropped; past this many, the oldest are forgotten.
const ABANDONED_MAX = 4096

/**
 * The queries a channel waits on, by peerid. Contract: an id is in
 * 1..2^32-1 and never one in use or recently abandoned; each query settles
 * exactly once: by its reply (resolve), by giving up on its timeout or
 * signal (its id is then remembered, see isLate), by a failed send (fail),
 * or by the channel closing (rejectAll).
 */
export class QueryTable {
  private readonly pending = new Map<number, Pending>()
  private readonly abandoned = new Set<number>()
  private next = 1

  /**
   * Registers a query. `what` names it in errors ("NAME (type N)"). The
   * returned promise settles as described above.
   */
  open(what: string, timeout?: number, signal?: AbortSignal): { peerid: number; promise: Promise<Message> } {
    const peerid = this.allocate()
    let timer: NodeJS.Timeout | undefined
    let onAbort: (() => void) | undefined
    const promise = new Promise<Message>((resolve, reject) => {
      const cleanup = () => {
        this.pending.delete(peerid)
        if (timer) clearTimeout(timer)
        if (onAbort) signal?.removeEventListener('abort', onAbort)
      }
      this.pending.set(peerid, {
        resolve: (msg) => {
          cleanup()
          resolve(msg)
        },
        reject: (err) => {
          cleanup()
          reject(err)
        },
      })
    })
    if (timeout !== undefined)
      timer = setTimeout(
        () =>
          this.abandon(
            peerid,
            new QueryTimeoutError(`ipcmsg: ${what} (peerid ${peerid}): no reply within ${timeout} ms`),
          ),
        timeout,
      )
    if (signal) {
      onAbort = () =>
        this.abandon(
          peerid,
          new QueryAbortedError(`ipcmsg: ${what} (peerid ${peerid}): query aborted`, {
            cause: signal.reason,
          }),
        )
      signal.addEventListener('abort', onAbort, { once: true })
    }
    return { peerid, promise }
  }

  get size(): number {
    return this.pending.size
  }

  /** Settles the query waiting on peerid with its reply; false if none waits. */
  resolve(peerid: number, msg: Message): boolean {
    const p = this.pending.get(peerid)
    if (!p) return false
    p.resolve(msg)
    return true
  }

  /** True (once) when peerid belonged to a query that gave up: its reply is late. */
  isLate(peerid: number): boolean {
    return this.abandoned.delete(peerid)
  }

  /** Rejects a query whose message could not be sent; its id is free again. */
  fail(peerid: number, err: Error): void {
    this.pending.get(peerid)?.reject(err)
  }

  rejectAll(err: Error): void {
    for (const p of [...this.pending.values()]) p.reject(err)
  }

  private abandon(peerid: number, err: Error): void {
    const p = this.pending.get(peerid)
    if (!p) return
    this.abandoned.add(peerid)
    if (this.abandoned.size > ABANDONED_MAX) {
      const oldest = this.abandoned.values().next().value
      if (oldest !== undefined) this.abandoned.delete(oldest)
    }
    p.reject(err)
  }

  private allocate(): number {
    let id = this.next
    while (this.pending.has(id) || this.abandoned.has(id)) id = id >= 0xffffffff ? 1 : id + 1
    this.next = id >= 0xffffffff ? 1 : id + 1
    return id
  }
}
