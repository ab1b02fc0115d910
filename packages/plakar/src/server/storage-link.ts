/**
 * Between a session process and the storage process: the Store calls, as ipcmsg queries.
 * The session side (LinkedStore) is a Store to the protocol code; the storage side
 * (serveStore) answers each query from the real store. The storage process never sees a
 * network byte, only these messages, which a session (the process that faces the network)
 * builds from requests it has already parsed and authorised.
 *
 * A message is u32 (host order) length of a MessagePack header, the header, then raw bytes
 * (an object's content for a put and a get's answer) after it, so that object bytes are
 * never re-encoded. Docs: docs/plakar-server.md, "Inside the daemon".
 */
import { msgpack, PayloadError } from '@poolp/ipcmsg'
import { isPlakarError, StorageError } from '../errors.js'
import { OBJECT_KINDS, type ObjectInfo, type ObjectKind, type Store } from '../storage/index.js'
import { wireCode, withoutLocation } from '../storage/remote/protocol.js'

export const LINK = {
  CREATE: 1,
  OPEN: 2,
  PUT: 3,
  GET: 4,
  STAT: 5,
  LIST_OPEN: 6,
  LIST_NEXT: 7,
  DELETE: 8,
  CLEAN: 9,
  OK: 10,
  ERROR: 11,
} as const

export const LINK_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(LINK).map(([name, type]) => [type, `STORAGE_${name}`]),
)

/** Items per LIST answer. */
const LIST_PAGE = 2048
/**
 * Listings one session may have open. A session walks each listing to its end, so more
 * means connections that went away mid-listing: the oldest is dropped (its next page is an
 * error), and the storage process's memory stays bounded.
 */
const MAX_LISTINGS = 1024

interface Header {
  kind?: ObjectKind
  name?: string
  offset?: number
  length?: number
  olderThan?: number
  handle?: number
  size?: number | null
  items?: [string, number, number][]
  done?: boolean
  count?: number
  code?: string
  message?: string
}

// At module top level: a chrooted process cannot load msgpackr later.
const codec = msgpack<Header>()

export function encodeLink(header: Header, body?: Uint8Array): Buffer {
  const head = codec.encode(header)
  const out = Buffer.allocUnsafe(4 + head.length + (body?.length ?? 0))
  out.writeUInt32LE(head.length, 0)
  out.set(head, 4)
  if (body) out.set(body, 4 + head.length)
  return out
}

export function decodeLink(payload: Buffer): { header: Header; body: Buffer } {
  if (payload.length < 4) throw new PayloadError('storage link message shorter than its length field')
  const n = payload.readUInt32LE(0)
  if (4 + n > payload.length) throw new PayloadError('storage link header past the message')
  const header = codec.decode(payload.subarray(4, 4 + n))
  if (typeof header !== 'object' || header === null)
    throw new PayloadError('storage link header is not a map')
  return { header, body: payload.subarray(4 + n) }
}

/** How a session sends a query to the storage process (privsep's getProcess('storage').query). */
export type Query = (type: number, payload: Uint8Array) => Promise<{ type: number; payload: Buffer }>

/** The storage process, as a Store, from a session process. */
export class LinkedStore implements Store {
  readonly location = 'repository'
  readonly concurrency = 8
  readonly largePuts = 2

  constructor(private readonly query: Query) {}

  async #ask(type: number, header: Header, body?: Uint8Array): Promise<{ header: Header; body: Buffer }> {
    const reply = await this.query(type, encodeLink(header, body))
    const answer = decodeLink(reply.payload)
    if (reply.type === LINK.ERROR) {
      const code = wireCode(answer.header.code, 'STORAGE_IO')
      throw new StorageError(code, `${this.location}: ${answer.header.message ?? 'storage failed'}`)
    }
    return answer
  }

  async create(): Promise<void> {
    await this.#ask(LINK.CREATE, {})
  }
  async open(): Promise<void> {
    await this.#ask(LINK.OPEN, {})
  }
  async put(kind: ObjectKind, name: string, data: Uint8Array): Promise<void> {
    await this.#ask(LINK.PUT, { kind, name }, data)
  }
  async get(kind: ObjectKind, name: string, offset?: number, length?: number): Promise<Uint8Array> {
    const h: Header = { kind, name }
    if (offset !== undefined) h.offset = offset
    if (length !== undefined) h.length = length
    return (await this.#ask(LINK.GET, h)).body
  }
  async stat(kind: ObjectKind, name: string): Promise<number | undefined> {
    const size = (await this.#ask(LINK.STAT, { kind, name })).header.size
    return typeof size === 'number' ? size : undefined
  }
  async *list(kind: ObjectKind): AsyncIterable<ObjectInfo> {
    let page = (await this.#ask(LINK.LIST_OPEN, { kind })).header
    for (;;) {
      for (const [name, size, mtime] of page.items ?? []) yield { name, size, mtime }
      if (page.done !== false) return
      page = (await this.#ask(LINK.LIST_NEXT, { handle: page.handle })).header
    }
  }
  async delete(kind: ObjectKind, name: string): Promise<void> {
    await this.#ask(LINK.DELETE, { kind, name })
  }
  async clean(olderThanMs?: number): Promise<number> {
    const h: Header = olderThanMs === undefined ? {} : { olderThan: olderThanMs }
    return (await this.#ask(LINK.CLEAN, h)).header.count ?? 0
  }
  async close(): Promise<void> {}
}

/** What the storage process answers a query with: a reply type and payload. */
export interface LinkAnswer {
  readonly type: number
  readonly payload: Buffer
}

/**
 * The storage side: answers one session's queries from `store` (one StoreServer per session,
 * so a listing handle means nothing to another session). Listings in progress are kept by
 * handle (a session walks a listing page by page); their iterators are dropped when done.
 * Every header is checked as the hostile input it could be if a session were taken over.
 */
export class StoreServer {
  readonly #listings = new Map<number, AsyncIterator<ObjectInfo>>()
  #nextHandle = 1

  constructor(
    private readonly store: Store,
    /** Largest answer body (the channel's maximum message, less room for the header). */
    private readonly maxBody: number,
  ) {}

  async answer(type: number, payload: Buffer): Promise<LinkAnswer> {
    try {
      const { header: h, body } = decodeLink(payload)
      const ok = (header: Header = {}, bytes?: Uint8Array): LinkAnswer => ({
        type: LINK.OK,
        payload: encodeLink(header, bytes),
      })
      switch (type) {
        case LINK.CREATE:
          await this.store.create()
          return ok()
        case LINK.OPEN:
          await this.store.open()
          return ok()
        case LINK.PUT:
          await this.store.put(kind(h), name(h), body)
          return ok()
        case LINK.GET: {
          const offset = num(h.offset)
          const length = num(h.length)
          let size = length
          if (size === undefined) {
            const whole = await this.store.stat(kind(h), name(h))
            if (whole !== undefined) size = whole - (offset ?? 0)
          }
          if (size !== undefined && size > this.maxBody) {
            throw new StorageError(
              'STORAGE_IO',
              `${this.store.location}: ${name(h)} is over ${this.maxBody} bytes, the largest the server sends`,
            )
          }
          return ok({}, await this.store.get(kind(h), name(h), offset, length))
        }
        case LINK.STAT:
          return ok({ size: (await this.store.stat(kind(h), name(h))) ?? null })
        case LINK.LIST_OPEN: {
          const handle = this.#nextHandle++
          if (this.#listings.size >= MAX_LISTINGS) {
            const [oldest, it] = this.#listings.entries().next().value!
            this.#listings.delete(oldest)
            it.return?.()?.catch(() => {})
          }
          this.#listings.set(handle, this.store.list(kind(h))[Symbol.asyncIterator]())
          return ok(await this.#page(handle))
        }
        case LINK.LIST_NEXT:
          return ok(await this.#page(num(h.handle) ?? -1))
        case LINK.DELETE:
          await this.store.delete(kind(h), name(h))
          return ok()
        case LINK.CLEAN:
          return ok({ count: await this.store.clean(num(h.olderThan)) })
        default:
          throw new PayloadError(`unknown storage request ${type}`)
      }
    } catch (err) {
      return { type: LINK.ERROR, payload: encodeLink(this.#describe(err)) }
    }
  }

  async #page(handle: number): Promise<Header> {
    const it = this.#listings.get(handle)
    if (it === undefined) throw new PayloadError(`no listing ${handle} (it ended or was dropped)`)
    const items: [string, number, number][] = []
    while (items.length < LIST_PAGE) {
      const next = await it.next()
      if (next.done) {
        this.#listings.delete(handle)
        return { items, done: true }
      }
      items.push([next.value.name, next.value.size, next.value.mtime])
    }
    return { items, done: false, handle }
  }

  #describe(err: unknown): Header {
    const location = this.store.location
    if (isPlakarError(err)) {
      return { code: err.code, message: withoutLocation(err.message, location) }
    }
    if (err instanceof PayloadError || err instanceof RangeError || err instanceof TypeError) {
      return { code: 'STORAGE_IO', message: `bad storage request: ${err.message}` }
    }
    return { code: 'STORAGE_IO', message: (err as Error)?.message ?? String(err) }
  }
}

function kind(h: Header): ObjectKind {
  if (typeof h.kind !== 'string' || !(OBJECT_KINDS as readonly string[]).includes(h.kind))
    throw new PayloadError('storage request without a known kind')
  return h.kind
}
function name(h: Header): string {
  if (typeof h.name !== 'string') throw new PayloadError('storage request without a name')
  return h.name
}
function num(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new PayloadError('storage request with a field that is not a non-negative integer')
  return v
}
