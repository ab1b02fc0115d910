import { createRequire } from 'node:module'
import type { Packr } from 'msgpackr'
import type { Channel } from './channel.js'
import { PayloadError } from './errors.js'
import type { Message } from './message.js'

/**
 * A payload codec. Contract: decode(encode(v)) equals v; decode throws
 * PayloadError on bytes it cannot read (a handler that lets it escape closes
 * the channel with a ProtocolError naming the message).
 */
export interface Codec<T> {
  /** Stable name, written in docs/ipcmsg-wire.md. */
  readonly name: string
  encode(value: T): Uint8Array
  decode(payload: Buffer): T
}

/** The payload as bytes, unchanged. */
export const raw: Codec<Uint8Array> = {
  name: 'raw',
  encode: (value) => {
    if (!(value instanceof Uint8Array)) throw new PayloadError('raw payload must be a Uint8Array')
    return value
  },
  decode: (payload) => payload,
}

/** No payload at all: anything else is an error. */
export const empty: Codec<void> = {
  name: 'empty',
  encode: () => new Uint8Array(0),
  decode: (payload) => {
    if (payload.length !== 0) throw new PayloadError(`expected an empty payload, got ${payload.length} bytes`)
  },
}

let shared: Packr | undefined

/**
 * msgpackr, loaded when the first msgpack codec is made rather than when ipcmsg is imported:
 * it costs 25-75 ms of start-up, which processes without a msgpack codec should not pay. Not
 * later (on first encode or decode): a codec is made where a protocol is declared, before a
 * privsep child's chroot, and nothing can be loaded from the jail afterwards.
 */
function loadPackr(): Packr {
  if (shared === undefined) {
    // createRequire, not import(): synchronous, and the same in the ESM and CJS builds.
    const { Packr } = createRequire(import.meta.url)('msgpackr') as typeof import('msgpackr')
    // Plain MessagePack (no record extension), so non-JavaScript peers can read it.
    shared = new Packr({ useRecords: false, moreTypes: false })
  }
  return shared
}

/**
 * Structured values as MessagePack (msgpackr, records off for portability). The first call
 * loads msgpackr.
 */
export function msgpack<T = unknown>(): Codec<T> {
  const packr = loadPackr()
  return {
    name: 'msgpack',
    encode: (value) => packr.pack(value),
    decode: (payload) => {
      if (payload.length === 0) throw new PayloadError('msgpack: empty payload')
      let value: T
      try {
        // Every byte must belong to the one value: trailing garbage is an error.
        const values = packr.unpackMultiple(payload) as T[]
        if (values.length !== 1)
          throw new PayloadError(`msgpack: ${values.length} values where one was expected`)
        value = values[0]!
      } catch (err) {
        if (err instanceof PayloadError) throw err
        throw new PayloadError(`msgpack: ${(err as Error).message}`)
      }
      return value
    },
  }
}

export interface CatalogEntry<T = unknown> {
  readonly type: number
  readonly codec: Codec<T>
}

type ValueOf<E> = E extends CatalogEntry<infer T> ? T : never

/**
 * The closed, named table of a protocol's message types: every type gets a
 * printable name (used in errors and Message.name) and a payload codec.
 *
 *   const proto = new Catalog({ PING: { type: 1, codec: empty }, STATUS: { type: 2, codec: msgpack<Status>() } })
 *   const ch = Channel.fromFd(fd, { typeName: proto.nameOf })
 *   proto.handle(ch, 'STATUS', (status, msg) => ...)
 *   proto.message(ch, 'STATUS', { ok: true })
 */
export class Catalog<D extends Record<string, CatalogEntry<unknown>>> {
  readonly entries: D
  private readonly byType = new Map<number, string>()

  constructor(entries: D) {
    for (const [name, entry] of Object.entries(entries)) {
      const dup = this.byType.get(entry.type)
      if (dup !== undefined)
        throw new TypeError(`ipcmsg: catalog gives type ${entry.type} to both ${dup} and ${name}`)
      if (!Number.isInteger(entry.type) || entry.type < 0 || entry.type > 0xffffffff)
        throw new RangeError(`ipcmsg: catalog type of ${name} must be a u32, got ${entry.type}`)
      this.byType.set(entry.type, name)
    }
    this.entries = entries
  }

  /** For ChannelOptions.typeName. */
  readonly nameOf = (type: number): string | undefined => this.byType.get(type)

  type<K extends keyof D & string>(name: K): number {
    return this.entries[name]!.type
  }

  encode<K extends keyof D & string>(name: K, value: ValueOf<D[K]>): Uint8Array {
    return this.entries[name]!.codec.encode(value)
  }

  /** Decodes msg as `name`; a message of another type is a PayloadError. */
  decode<K extends keyof D & string>(name: K, msg: Message): ValueOf<D[K]> {
    const entry = this.entries[name]!
    if (msg.type !== entry.type)
      throw new PayloadError(`expected ${name} (type ${entry.type}), got type ${msg.type}`)
    return entry.codec.decode(msg.payload) as ValueOf<D[K]>
  }

  /** Sets a channel handler that receives the decoded value. */
  handle<K extends keyof D & string>(
    channel: Channel,
    name: K,
    handler: (value: ValueOf<D[K]>, msg: Message, channel: Channel) => void | Promise<void>,
  ): void {
    const entry = this.entries[name]!
    channel.handle(entry.type, (msg, ch) =>
      handler(entry.codec.decode(msg.payload) as ValueOf<D[K]>, msg, ch),
    )
  }

  message<K extends keyof D & string>(
    channel: Channel,
    name: K,
    value: ValueOf<D[K]>,
    options?: Parameters<Channel['message']>[2],
  ): boolean {
    return channel.message(this.entries[name]!.type, this.encode(name, value), options)
  }

  async query<K extends keyof D & string>(
    channel: Channel,
    name: K,
    value: ValueOf<D[K]>,
    options?: Parameters<Channel['query']>[2],
  ): Promise<Message> {
    return channel.query(this.entries[name]!.type, this.encode(name, value), options)
  }

  reply<K extends keyof D & string>(
    channel: Channel,
    to: Message,
    name: K,
    value: ValueOf<D[K]>,
    options?: Parameters<Channel['reply']>[3],
  ): boolean {
    return channel.reply(to, this.entries[name]!.type, this.encode(name, value), options)
  }
}
