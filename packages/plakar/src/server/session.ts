/**
 * One client connection, as a session process serves it: protocol version 1
 * (storage/remote/protocol.ts, docs/plakar-protocol.md) over a socket that reached us from
 * the listener, against a Store that is really the storage process on the other end of an
 * ipcmsg channel (storage-link.ts). This is the code that parses network bytes, so it
 * trusts nothing:
 *
 * - before authentication only HELLO, then AUTH, are answered, frames are at most
 *   PRE_AUTH_PAYLOAD bytes, and the connection is closed after `authTimeout` ms;
 * - any frame it cannot parse, of a type out of place, or for a request id it does not
 *   expect closes the connection, without an answer;
 * - a token's rights are enforced here, per request (protocol.ts `allows`);
 * - a connection sends one put's bytes at a time: its DATA frames follow its PUT before any
 *   other PUT (other requests may come between). A put is admitted when its announced size
 *   fits in a byte budget shared by every connection of the process; until then its
 *   connection is not read. So the bytes held are the budget, whatever clients send, and no
 *   wait can be circular: an admitted put's bytes are never behind a put that waits;
 * - an admitted put whose bytes stop coming for `idleTimeout` ms closes its connection (a
 *   client cannot hold the budget by announcing and sending nothing);
 * - gets take the size they answer from a second budget before asking storage for it, and
 *   a client that stops reading its answers for `idleTimeout` ms is closed.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { Duplex } from 'node:stream'
import { isPlakarError, StorageError } from '../errors.js'
import type { ObjectKind, Store } from '../storage/index.js'
import {
  ACCESS,
  type Access,
  allows,
  drained,
  errorPayload,
  FieldReader,
  FieldWriter,
  type Frame,
  FrameDecoder,
  frame,
  frameHeader,
  MAGIC,
  MAX_PAYLOAD,
  type Operation,
  PROTOCOL_VERSION,
  ProtocolViolation,
  T,
  withoutLocation,
  writeBatched,
} from '../storage/remote/protocol.js'

/** Largest frame payload accepted before authentication (a token fits many times). */
export const PRE_AUTH_PAYLOAD = 4096
/** Items per ITEMS frame: each is at most 2 + 128 + 16 bytes, so a frame stays small. */
const ITEMS_PER_FRAME = 1024

export interface TokenRule {
  /** SHA-256 of the token: compared in constant time, and the token itself is not kept. */
  readonly digest: Buffer
  readonly access: Access
}

export function tokenRule(token: string, access: Access): TokenRule {
  return { digest: createHash('sha256').update(token, 'utf8').digest(), access }
}

/**
 * Bytes held in memory by every connection of a process, handed out first come, first
 * served: a request waits while any earlier one waits, so a large put is not starved by a
 * stream of small ones. One request larger than the whole budget is let through alone
 * (when nothing is held), so a budget smaller than the largest object slows but never
 * refuses.
 */
export class ByteBudget {
  #used = 0
  readonly #queue: { readonly n: number; readonly grant: () => void }[] = []
  constructor(readonly limit: number) {}

  get used(): number {
    return this.#used
  }
  #fits(n: number): boolean {
    return this.#used === 0 || this.#used + n <= this.limit
  }
  /**
   * Takes `n` bytes now if they fit and nobody waits (returns true); otherwise queues, and
   * calls `grant` once they are taken. Returns then how to stop waiting.
   */
  take(n: number, grant: () => void): true | (() => void) {
    if (this.#queue.length === 0 && this.#fits(n)) {
      this.#used += n
      return true
    }
    const waiter = { n, grant }
    this.#queue.push(waiter)
    return () => {
      const i = this.#queue.indexOf(waiter)
      if (i < 0) return
      this.#queue.splice(i, 1)
      this.#admit()
    }
  }
  release(n: number): void {
    if (n === 0) return
    this.#used -= n
    this.#admit()
  }
  #admit(): void {
    while (this.#queue.length > 0 && this.#fits(this.#queue[0]!.n)) {
      const waiter = this.#queue.shift()!
      this.#used += waiter.n
      waiter.grant()
    }
  }
  /** Waits for `n` bytes, in turn, and takes them. */
  acquire(n: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.take(n, resolve) === true) resolve()
    })
  }
}

/** Bytes of answers waiting in a connection's socket past which its requests wait. */
const WRITE_BACKLOG = 4 << 20

export interface SessionOptions {
  readonly tokens: readonly TokenRule[]
  /** Milliseconds a connection has to authenticate. */
  readonly authTimeout: number
  /** Milliseconds an authenticated connection may stay silent with nothing in flight. */
  readonly idleTimeout: number
  /** Largest object a put may announce. */
  readonly maxObject: number
  /** Requests in flight per connection; more is a protocol violation. */
  readonly maxInFlight: number
  /** Bytes of admitted puts, shared by the process's connections. */
  readonly budget: ByteBudget
  /** Bytes of gets being answered, shared likewise. */
  readonly readBudget: ByteBudget
  /** One line per event worth logging (a refused token, a violation). */
  readonly log: (line: string) => void
  /** Also log every authenticated connection and how it ended (-d). */
  readonly debug?: boolean
}

interface Put {
  readonly id: number
  readonly kind: ObjectKind
  readonly name: string
  readonly size: number
  /** null: refused, its DATA frames are read and dropped. */
  readonly body: Buffer | null
  filled: number
}

/** What a backend failure tells the client: its code, and the message without its location. */
function describe(err: unknown, location: string): { code: string; message: string } {
  if (isPlakarError(err)) {
    return { code: err.code, message: withoutLocation(err.message, location) }
  }
  return { code: 'STORAGE_IO', message: 'internal server error' }
}

/**
 * Serves one connection until it closes. Resolves when it is gone; never rejects (a
 * violation closes the connection and is logged).
 */
export function serveConnection(
  socket: Duplex,
  store: Store,
  opts: SessionOptions,
  peer: string,
): Promise<void> {
  return new Promise((resolveGone) => {
    const decoder = new FrameDecoder(PRE_AUTH_PAYLOAD)
    let state: 'hello' | 'auth' | 'ready' = 'hello'
    let access: Access = 'read-only'
    const inFlight = new Set<number>()
    /** The put whose DATA frames are arriving; only one at a time. */
    let receiving: Put | undefined
    /** Budget bytes of `receiving` (its bytes in storage release themselves). */
    let reserved = 0
    let closed = false
    /** Frames decoded but not yet handled: they wait while a put waits for room. */
    let queue: Frame[] = []
    let head = 0
    /** Set while frames wait (for budget, or for the client to read): how to stop waiting. */
    let stopWaiting: (() => void) | undefined
    /** Put budget granted to the PUT frame that waited for it. */
    let granted = 0

    const authTimer = setTimeout(
      () => close(`no authentication within ${opts.authTimeout} ms`),
      opts.authTimeout,
    )
    let idleTimer: NodeJS.Timeout | undefined
    let progressTimer: NodeJS.Timeout | undefined

    const armIdle = () => {
      if (idleTimer) clearTimeout(idleTimer)
      idleTimer = undefined
      if (state === 'ready' && inFlight.size === 0 && stopWaiting === undefined && !closed) {
        idleTimer = setTimeout(() => close(`idle for ${opts.idleTimeout} ms`), opts.idleTimeout)
      }
    }

    /**
     * Closes the connection. `flush`: after an answer worth reading (a refused token, an
     * unsupported version), end it gracefully so that the answer is not lost to a reset.
     */
    function close(why?: string, flush = false): void {
      if (closed) return
      closed = true
      if (why) opts.log(`${peer}: closed: ${why}`)
      clearTimeout(authTimer)
      if (idleTimer) clearTimeout(idleTimer)
      if (progressTimer) clearTimeout(progressTimer)
      stopWaiting?.()
      stopWaiting = undefined
      opts.budget.release(reserved + granted)
      reserved = 0
      granted = 0
      receiving = undefined
      queue = []
      if (flush) {
        socket.end()
        setTimeout(() => socket.destroy(), 1000).unref()
      } else {
        socket.destroy()
      }
    }

    socket.on('error', () => close())
    socket.on('close', () => {
      if (opts.debug && !closed) opts.log(`${peer}: disconnected`)
      close()
      resolveGone()
    })
    socket.on('data', (chunk: Buffer) => {
      if (closed) return
      try {
        for (const f of decoder.push(chunk)) queue.push(f)
      } catch (err) {
        return close(`protocol violation: ${(err as Error).message}`)
      }
      pump()
    })

    /** Handles queued frames until they run out or a put must wait for room. */
    function pump(): void {
      while (head < queue.length && !closed && stopWaiting === undefined) {
        // Answers the client does not read stop its requests, whatever their kind.
        if ((socket.writableLength ?? 0) > WRITE_BACKLOG) {
          waitForReader()
          return
        }
        const f = queue[head++]!
        try {
          onFrame(f)
        } catch (err) {
          close(
            err instanceof ProtocolViolation
              ? `protocol violation: ${err.message}`
              : `internal error: ${String(err)}`,
          )
          return
        }
      }
      if (head === queue.length) {
        queue = []
        head = 0
      }
    }

    /** Frames wait: stop reading until `resume` runs. */
    function hold(stop: () => void): void {
      socket.pause()
      if (idleTimer) clearTimeout(idleTimer)
      idleTimer = undefined
      stopWaiting = stop
    }
    function resume(): void {
      stopWaiting = undefined
      if (closed) return
      pump()
      if (stopWaiting === undefined && !closed) {
        socket.resume()
        armIdle()
      }
    }

    /**
     * Takes `size` bytes of put budget for the PUT frame being handled: true if granted now;
     * otherwise the frame waits its turn and is handled again once granted.
     */
    function admit(size: number): boolean {
      const taken = opts.budget.take(size, () => {
        granted = size
        resume()
      })
      if (taken !== true) {
        head--
        hold(taken)
        return false
      }
      granted = size
      return true
    }

    /** The client reads its answers again, or drain() closes it after `idleTimeout`. */
    function waitForReader(): void {
      hold(() => {})
      void drain().then(resume)
    }

    const send = (type: number, id: number, payload?: Uint8Array): boolean =>
      closed ? true : writeBatched(socket, frame(type, id, payload))
    const fail = (id: number, code: string, message: string) => send(T.ERROR, id, errorPayload(code, message))

    /** Waits for the client to read what was sent; closes a client that stopped reading. */
    async function drain(): Promise<void> {
      const timer = setTimeout(
        () => close(`not reading its answers for ${opts.idleTimeout} ms`),
        opts.idleTimeout,
      )
      try {
        await drained(socket)
      } finally {
        clearTimeout(timer)
      }
    }

    function finish(id: number): void {
      inFlight.delete(id)
      armIdle()
    }

    async function run(id: number, work: () => Promise<void>): Promise<void> {
      try {
        await work()
      } catch (err) {
        const d = describe(err, store.location)
        if (d.message === 'internal server error') opts.log(`${peer}: request ${id} failed: ${String(err)}`)
        fail(id, d.code, d.message)
      } finally {
        finish(id)
      }
    }

    function claim(id: number): void {
      if (inFlight.has(id)) throw new ProtocolViolation(`request id ${id} already in flight`)
      if (inFlight.size >= opts.maxInFlight)
        throw new ProtocolViolation(`over ${opts.maxInFlight} requests in flight`)
    }

    /**
     * Takes the request id and checks the token's rights. A refused request is answered
     * here; a refused put keeps its id until its bytes have gone by.
     */
    function begin(id: number, op: Operation, kind?: ObjectKind): boolean {
      claim(id)
      inFlight.add(id)
      if (idleTimer) clearTimeout(idleTimer)
      idleTimer = undefined
      if (!allows(access, op, kind)) {
        fail(id, 'STORAGE_DENIED', `a ${access} token may not ${op}${kind ? ` ${kind} objects` : ''}`)
        if (op !== 'put') finish(id)
        return false
      }
      return true
    }

    function onFrame(f: Frame): void {
      if (state === 'hello') {
        if (f.type !== T.HELLO) throw new ProtocolViolation(`frame type ${f.type} before HELLO`)
        const r = new FieldReader(f.payload)
        if (r.u32() !== MAGIC) throw new ProtocolViolation('not a plakar client (bad magic)')
        const min = r.u16()
        const max = r.u16()
        r.end()
        if (PROTOCOL_VERSION < min || PROTOCOL_VERSION > max) {
          fail(
            f.id,
            'STORAGE_REMOTE',
            `this server speaks protocol ${PROTOCOL_VERSION} only, not ${min}-${max}`,
          )
          close(`client speaks protocol ${min}-${max}`, true)
          return
        }
        state = 'auth'
        send(
          T.WELCOME,
          f.id,
          new FieldWriter().u16(PROTOCOL_VERSION).u32(MAX_PAYLOAD).u16(opts.maxInFlight).finish(),
        )
        return
      }
      if (state === 'auth') {
        if (f.type !== T.AUTH) throw new ProtocolViolation(`frame type ${f.type} before AUTH`)
        const digest = createHash('sha256').update(f.payload).digest()
        // Every rule is compared, so the time taken does not say which one matched.
        let granted: Access | undefined
        for (const rule of opts.tokens) if (timingSafeEqual(rule.digest, digest)) granted ??= rule.access
        if (granted === undefined) {
          fail(f.id, 'STORAGE_DENIED', 'authentication failed: unknown token')
          close('authentication failed', true)
          return
        }
        access = granted
        state = 'ready'
        clearTimeout(authTimer)
        decoder.maxPayload = MAX_PAYLOAD
        send(T.AUTH_OK, f.id, new FieldWriter().u8(ACCESS.indexOf(access)).finish())
        if (opts.debug) opts.log(`${peer}: authenticated (${access})`)
        armIdle()
        return
      }
      const r = new FieldReader(f.payload)
      switch (f.type) {
        case T.DATA:
          onData(f)
          return
        case T.CREATE:
          r.end()
          if (begin(f.id, 'create'))
            void run(f.id, async () => {
              await store.create()
              send(T.OK, f.id)
            })
          return
        case T.OPEN:
          r.end()
          if (begin(f.id, 'open'))
            void run(f.id, async () => {
              await store.open()
              send(T.OK, f.id)
            })
          return
        case T.PUT:
          onPut(f, r)
          return
        case T.GET: {
          const kind = r.kind()
          const name = r.str()
          const flags = r.u8()
          const offset = r.u64()
          const length = r.u64()
          r.end()
          // Flag 2 (a length) needs flag 1 (an offset): what the client's range allows.
          if (flags > 3 || flags === 2) throw new ProtocolViolation(`GET flags ${flags}`)
          if (!begin(f.id, 'get', kind)) return
          void run(f.id, () =>
            answerGet(f.id, kind, name, flags & 1 ? offset : undefined, flags & 2 ? length : undefined),
          )
          return
        }
        case T.STAT: {
          const kind = r.kind()
          const name = r.str()
          r.end()
          if (!begin(f.id, 'stat', kind)) return
          void run(f.id, async () => {
            const size = await store.stat(kind, name)
            send(
              T.OK,
              f.id,
              new FieldWriter()
                .u8(size === undefined ? 0 : 1)
                .u64(size ?? 0)
                .finish(),
            )
          })
          return
        }
        case T.LIST: {
          const kind = r.kind()
          r.end()
          if (!begin(f.id, 'list', kind)) return
          void run(f.id, async () => {
            let batch: FieldWriter = new FieldWriter().u16(0)
            let n = 0
            const flush = async () => {
              const payload = batch.finish()
              payload.writeUInt16BE(n, 0)
              batch = new FieldWriter().u16(0)
              n = 0
              if (!send(T.ITEMS, f.id, payload)) await drain()
            }
            for await (const item of store.list(kind)) {
              if (closed) return
              batch.str(item.name).u64(item.size).u64(item.mtime)
              if (++n === ITEMS_PER_FRAME) await flush()
            }
            if (n > 0) await flush()
            send(T.OK, f.id)
          })
          return
        }
        case T.DELETE: {
          const kind = r.kind()
          const name = r.str()
          r.end()
          if (!begin(f.id, 'delete', kind)) return
          void run(f.id, async () => {
            await store.delete(kind, name)
            send(T.OK, f.id)
          })
          return
        }
        case T.CLEAN: {
          const has = r.u8()
          const older = r.u64()
          r.end()
          if (!begin(f.id, 'clean')) return
          void run(f.id, async () => {
            const n = await store.clean(has ? older : undefined)
            send(T.OK, f.id, new FieldWriter().u32(n).finish())
          })
          return
        }
        default:
          throw new ProtocolViolation(`unknown frame type ${f.type}`)
      }
    }

    function onPut(f: Frame, r: FieldReader): void {
      const kind = r.kind()
      const name = r.str()
      const size = r.u64()
      r.end()
      if (receiving !== undefined)
        throw new ProtocolViolation(`put ${f.id} announced before the bytes of put ${receiving.id}`)
      claim(f.id)
      const admissible = allows(access, 'put', kind) && size <= opts.maxObject
      if (admissible && granted === 0 && size > 0 && !admit(size)) return
      let body: Buffer | null = null
      if (begin(f.id, 'put', kind)) {
        if (size > opts.maxObject) {
          fail(
            f.id,
            'STORAGE_DENIED',
            `object of ${size} bytes over the server's maximum of ${opts.maxObject}`,
          )
        } else {
          try {
            body = Buffer.allocUnsafe(size)
          } catch {
            opts.log(`${peer}: put ${f.id}: no memory for ${size} bytes`)
            fail(f.id, 'STORAGE_IO', 'the server has no memory for this object now')
          }
        }
      }
      // The room granted is the body's, or goes back at once (a refused put keeps none).
      if (body !== null) reserved = granted
      else opts.budget.release(granted)
      granted = 0
      receiving = { id: f.id, kind, name, size, body, filled: 0 }
      if (size === 0) {
        completePut()
        return
      }
      progressTimer = setTimeout(
        () => close(`no bytes of put ${f.id} for ${opts.idleTimeout} ms`),
        opts.idleTimeout,
      )
    }

    function onData(f: Frame): void {
      const put = receiving
      if (put === undefined || put.id !== f.id)
        throw new ProtocolViolation(`DATA for request ${f.id}, which is not the put being sent`)
      // An empty frame would only keep a stalled put's room (and its timer) alive.
      if (f.payload.length === 0) throw new ProtocolViolation(`empty DATA frame for put ${f.id}`)
      if (put.filled + f.payload.length > put.size)
        throw new ProtocolViolation(`more bytes than put ${f.id} announced`)
      put.body?.set(f.payload, put.filled)
      put.filled += f.payload.length
      if (put.filled === put.size) completePut()
      else progressTimer?.refresh()
    }

    function completePut(): void {
      const put = receiving!
      receiving = undefined
      if (progressTimer) clearTimeout(progressTimer)
      progressTimer = undefined
      if (put.body === null) {
        finish(put.id)
        return
      }
      const body = put.body
      // From here the bytes belong to the storage call, which gives them back to the budget
      // when it is done, whether or not this connection is still open.
      reserved = 0
      void run(put.id, async () => {
        try {
          await store.put(put.kind, put.name, body)
        } finally {
          opts.budget.release(put.size)
        }
        send(T.OK, put.id)
      })
    }

    /** A get's answer: its size is taken from the read budget before storage is asked. */
    async function answerGet(
      id: number,
      kind: ObjectKind,
      name: string,
      offset: number | undefined,
      length: number | undefined,
    ): Promise<void> {
      let expect = length
      if (expect === undefined) {
        const size = await store.stat(kind, name)
        expect = size === undefined ? 0 : Math.max(0, size - (offset ?? 0))
      }
      const room = Math.min(expect, opts.maxObject)
      await opts.readBudget.acquire(room)
      try {
        if (closed) return
        const bytes =
          offset === undefined ? await store.get(kind, name) : await store.get(kind, name, offset, length)
        // Objects are immutable; one deleted and put again bigger since the stat is refused
        // rather than held outside the budget.
        if (bytes.length > room)
          throw new StorageError('STORAGE_IO', `${name} changed size while it was read; retry`)
        await sendBody(id, bytes)
      } finally {
        opts.readBudget.release(room)
      }
    }

    /** OK with the length, then DATA frames, waiting for the socket to drain between them. */
    async function sendBody(id: number, bytes: Uint8Array): Promise<void> {
      send(T.OK, id, new FieldWriter().u64(bytes.length).finish())
      for (let at = 0; at < bytes.length && !closed; at += MAX_PAYLOAD) {
        const part = bytes.subarray(at, Math.min(bytes.length, at + MAX_PAYLOAD))
        writeBatched(socket, frameHeader(T.DATA, id, part.length))
        if (!writeBatched(socket, part)) await drain()
      }
    }
  })
}
