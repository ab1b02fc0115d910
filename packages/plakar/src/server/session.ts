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
 * - bytes of puts in flight are counted against a budget shared by every connection of
 *   the process: past it, connections stop being read until puts complete, so memory stays
 *   bounded whatever the clients send.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { Duplex } from 'node:stream'
import { isPlakarError } from '../errors.js'
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

/** Bytes of puts held in memory by every connection of a process, and who waits for room. */
export class ByteBudget {
  #used = 0
  readonly #waiting = new Set<() => void>()
  constructor(readonly limit: number) {}

  get used(): number {
    return this.#used
  }
  get full(): boolean {
    return this.#used >= this.limit
  }
  take(n: number): void {
    this.#used += n
  }
  release(n: number): void {
    this.#used -= n
    if (this.#used < this.limit) {
      const waiting = [...this.#waiting]
      this.#waiting.clear()
      for (const w of waiting) w()
    }
  }
  whenRoom(fn: () => void): () => void {
    this.#waiting.add(fn)
    return () => this.#waiting.delete(fn)
  }
}

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
  readonly budget: ByteBudget
  /** One line per event worth logging (a refused token, a violation). */
  readonly log: (line: string) => void
  /** Also log every authenticated connection and how it ended (-d). */
  readonly debug?: boolean
}

interface Put {
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
    const puts = new Map<number, Put>()
    let held = 0
    let closed = false
    let stopWaiting: (() => void) | undefined

    const authTimer = setTimeout(
      () => close(`no authentication within ${opts.authTimeout} ms`),
      opts.authTimeout,
    )
    let idleTimer: NodeJS.Timeout | undefined

    const armIdle = () => {
      if (idleTimer) clearTimeout(idleTimer)
      idleTimer = undefined
      if (state === 'ready' && inFlight.size === 0 && !closed) {
        idleTimer = setTimeout(() => close(`idle for ${opts.idleTimeout} ms`), opts.idleTimeout)
      }
    }

    function close(why?: string): void {
      if (closed) return
      closed = true
      if (why) opts.log(`${peer}: closed: ${why}`)
      clearTimeout(authTimer)
      if (idleTimer) clearTimeout(idleTimer)
      stopWaiting?.()
      opts.budget.release(held)
      held = 0
      puts.clear()
      socket.destroy()
    }

    socket.on('error', () => close())
    socket.on('close', () => {
      if (opts.debug && !closed) opts.log(`${peer}: disconnected`)
      close()
      resolveGone()
    })
    socket.on('data', (chunk: Buffer) => {
      if (closed) return
      let frames: Frame[]
      try {
        frames = decoder.push(chunk)
      } catch (err) {
        return close(`protocol violation: ${(err as Error).message}`)
      }
      for (const f of frames) {
        try {
          onFrame(f)
        } catch (err) {
          if (err instanceof ProtocolViolation) return close(`protocol violation: ${err.message}`)
          throw err
        }
        if (closed) return
      }
      if (opts.budget.full && !socket.isPaused()) {
        socket.pause()
        stopWaiting = opts.budget.whenRoom(() => {
          stopWaiting = undefined
          if (!closed) socket.resume()
        })
      }
    })

    const send = (type: number, id: number, payload?: Uint8Array) => {
      if (!closed) socket.write(frame(type, id, payload))
    }
    const fail = (id: number, code: string, message: string) => send(T.ERROR, id, errorPayload(code, message))

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

    function begin(id: number, op: Operation, kind?: ObjectKind): boolean {
      if (inFlight.has(id)) throw new ProtocolViolation(`request id ${id} already in flight`)
      if (inFlight.size >= opts.maxInFlight)
        throw new ProtocolViolation(`over ${opts.maxInFlight} requests in flight`)
      inFlight.add(id)
      if (idleTimer) clearTimeout(idleTimer)
      idleTimer = undefined
      if (!allows(access, op, kind)) {
        fail(id, 'STORAGE_DENIED', `a ${access} token may not ${op}${kind ? ` ${kind} objects` : ''}`)
        finish(id)
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
          close(`client speaks protocol ${min}-${max}`)
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
          close('authentication failed')
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
        case T.PUT: {
          const kind = r.kind()
          const name = r.str()
          const size = r.u64()
          r.end()
          const allowed = begin(f.id, 'put', kind)
          // A refused put still owns its id until its bytes have gone by.
          if (!allowed) inFlight.add(f.id)
          let body: Buffer | null = null
          if (allowed && size > opts.maxObject) {
            fail(
              f.id,
              'STORAGE_DENIED',
              `object of ${size} bytes over the server's maximum of ${opts.maxObject}`,
            )
          } else if (allowed) {
            body = Buffer.allocUnsafe(size)
            held += size
            opts.budget.take(size)
          }
          puts.set(f.id, { kind, name, size, body, filled: 0 })
          if (size === 0) completePut(f.id)
          return
        }
        case T.GET: {
          const kind = r.kind()
          const name = r.str()
          const flags = r.u8()
          const offset = r.u64()
          const length = r.u64()
          r.end()
          if (!begin(f.id, 'get', kind)) return
          void run(f.id, async () => {
            const bytes =
              flags & 1
                ? await store.get(kind, name, offset, flags & 2 ? length : undefined)
                : await store.get(kind, name)
            await sendBody(f.id, bytes)
          })
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
            const flush = () => {
              const payload = batch.finish()
              payload.writeUInt16BE(n, 0)
              send(T.ITEMS, f.id, payload)
              batch = new FieldWriter().u16(0)
              n = 0
            }
            for await (const item of store.list(kind)) {
              batch.str(item.name).u64(item.size).u64(item.mtime)
              if (++n === ITEMS_PER_FRAME) flush()
            }
            if (n > 0) flush()
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

    function onData(f: Frame): void {
      const put = puts.get(f.id)
      if (put === undefined)
        throw new ProtocolViolation(`DATA for request ${f.id}, which is no put in progress`)
      if (put.filled + f.payload.length > put.size)
        throw new ProtocolViolation(`more bytes than put ${f.id} announced`)
      put.body?.set(f.payload, put.filled)
      put.filled += f.payload.length
      if (put.filled === put.size) completePut(f.id)
    }

    function completePut(id: number): void {
      const put = puts.get(id)!
      puts.delete(id)
      if (put.body === null) {
        finish(id)
        return
      }
      const body = put.body
      void run(id, async () => {
        try {
          await store.put(put.kind, put.name, body)
        } finally {
          held -= put.size
          if (!closed) opts.budget.release(put.size)
        }
        send(T.OK, id)
      })
    }

    /** OK with the length, then DATA frames, waiting for the socket to drain between them. */
    async function sendBody(id: number, bytes: Uint8Array): Promise<void> {
      send(T.OK, id, new FieldWriter().u64(bytes.length).finish())
      for (let at = 0; at < bytes.length && !closed; at += MAX_PAYLOAD) {
        const part = bytes.subarray(at, Math.min(bytes.length, at + MAX_PAYLOAD))
        socket.cork()
        socket.write(frameHeader(T.DATA, id, part.length))
        const more = socket.write(part)
        socket.uncork()
        if (!more) await drained(socket)
      }
    }
  })
}
