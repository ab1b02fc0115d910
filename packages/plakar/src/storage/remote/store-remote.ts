/**
 * The plakar:// backend: a Store whose objects live behind a `plakar server`, reached over
 * TCP (`plakar://host:port`), a UNIX socket (`plakar+unix:///run/plakar.sock`) or TLS
 * (`plakar+tls://host:port?ca=FILE` or `?fingerprint=sha256:HEX`). It speaks protocol
 * version 1 (protocol.ts, docs/plakar-protocol.md) on one connection, many requests in
 * flight, and keeps the Store contract: everything the server's store guarantees reaches the
 * caller unchanged, and the server's StorageError codes come back as the same codes.
 *
 * The token comes from PLAKAR_TOKEN, or from the file PLAKAR_TOKEN_FILE names. A dropped
 * connection fails every request in flight with one STORAGE_REMOTE error; the next call
 * connects again. A server silent for `timeout` while requests wait is a dropped connection:
 * nothing hangs.
 */
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'
import { StorageError } from '../../errors.js'
import { checkName, checkRange } from '../checks.js'
import type { ObjectInfo, ObjectKind, Store, StoreFactory } from '../store.js'
import {
  ACCESS,
  type Access,
  drained,
  FieldReader,
  FieldWriter,
  type Frame,
  FrameDecoder,
  frame,
  frameHeader,
  hello,
  kindCode,
  MAX_OBJECT,
  MAX_PAYLOAD,
  PROTOCOL_VERSION,
  ProtocolViolation,
  T,
  wireCode,
  writeBatched,
} from './protocol.js'

export const DEFAULT_PORT = 9876
/** Milliseconds the server may stay silent while a request waits for it. */
const DEFAULT_TIMEOUT = 60_000

export type Transport =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string }
  | {
      readonly kind: 'tls'
      readonly host: string
      readonly port: number
      readonly ca?: string
      readonly fingerprint?: string
    }

export interface RemoteOptions {
  readonly token: string
  readonly timeout?: number
}

interface Pending {
  readonly type: number
  resolve(frame: Frame): void
  reject(err: Error): void
  /** GET: the bytes arriving as DATA frames. */
  body?: Buffer
  filled?: number
  /** GET: the length asked for, which the answer must have. */
  expect?: number
  /** LIST: the items so far. */
  items?: ObjectInfo[]
}

class Connection {
  readonly socket: net.Socket
  readonly #decoder = new FrameDecoder()
  readonly #pending = new Map<number, Pending>()
  #nextId = 1
  #failure: StorageError | undefined
  #lost: (err: StorageError) => void = () => {}
  readonly ready: Promise<Access>
  /** Requests the server takes at once (from WELCOME); more wait here, in order. */
  #slots = 1
  #busy = 0
  /** Settled once the handshake is over, either way. */
  #handshaking = true
  /** The last put's frames being written: a put's DATA frames go out before the next PUT. */
  #writing: Promise<void> = Promise.resolve()
  readonly #queue: (() => void)[] = []
  /** Called once when the connection is gone, with why. */
  onGone: (err: StorageError) => void = () => {}

  constructor(
    private readonly location: string,
    transport: Transport,
    private readonly opts: RemoteOptions,
  ) {
    this.socket = connectTransport(location, transport)
    this.socket.setNoDelay(true)
    this.socket.setTimeout(opts.timeout ?? DEFAULT_TIMEOUT)
    this.socket.on('timeout', () => {
      if (this.#pending.size > 0 || this.#handshaking)
        this.fail(this.#remote(`no answer from the server in ${this.#timeoutText()}`))
    })
    this.socket.on('data', (chunk: Buffer) => this.#onData(chunk))
    this.socket.on('error', (err: NodeJS.ErrnoException) => this.fail(this.#remote(connectionError(err))))
    this.socket.on('close', () => this.fail(this.#remote('connection closed by the server')))
    const secure = transport.kind === 'tls' ? 'secureConnect' : 'connect'
    const pinned = transport.kind === 'tls' ? transport.fingerprint : undefined
    const connected = new Promise<void>((resolve) =>
      this.socket.once(secure, () => {
        const wrong = pinned === undefined ? undefined : pinMismatch(this.socket as tls.TLSSocket, pinned)
        if (wrong === undefined) resolve()
        else this.fail(this.#remote(wrong))
      }),
    )
    // A connection that fails before or during the handshake fails `ready` too.
    const lost = new Promise<never>((_, reject) => {
      this.#lost = reject
    })
    this.ready = Promise.race([connected.then(() => this.#handshake()), lost])
    // A failed handshake is reported to whoever awaits ready; this only keeps Node quiet.
    const over = () => {
      this.#handshaking = false
    }
    this.ready.then(over, over)
  }

  #timeoutText(): string {
    return `${Math.round((this.opts.timeout ?? DEFAULT_TIMEOUT) / 1000)} s`
  }

  #remote(message: string): StorageError {
    return new StorageError('STORAGE_REMOTE', `${this.location}: ${message}`)
  }

  async #handshake(): Promise<Access> {
    const welcome = await this.#request(T.HELLO, hello())
    const w = new FieldReader(welcome.payload)
    const version = w.u16()
    if (version !== PROTOCOL_VERSION) throw this.#remote(`the server speaks protocol ${version}, not 1`)
    w.u32() // the server's largest frame payload: MAX_PAYLOAD in version 1
    // At least one: a server that offers none would leave every request waiting.
    this.#slots = Math.max(1, w.u16())
    const ok = await this.#request(T.AUTH, Buffer.from(this.opts.token, 'utf8'))
    const access = ACCESS[new FieldReader(ok.payload).u8()]
    if (access === undefined) throw this.#remote('the server sent an unknown access level')
    return access
  }

  fail(err: StorageError): void {
    if (!this.#settle(err)) return
    this.socket.destroy()
    this.onGone(err)
  }

  /** Records the connection's end and fails everything waiting on it; false if it had ended. */
  #settle(err: StorageError): boolean {
    if (this.#failure) return false
    this.#failure = err
    this.#lost(err)
    for (const p of this.#pending.values()) p.reject(err)
    this.#pending.clear()
    return true
  }

  get failed(): boolean {
    return this.#failure !== undefined
  }

  #onData(chunk: Buffer): void {
    let frames: Frame[]
    try {
      frames = this.#decoder.push(chunk)
    } catch (err) {
      this.fail(this.#remote(`the server broke the protocol: ${(err as Error).message}`))
      return
    }
    for (const f of frames) {
      try {
        this.#onFrame(f)
      } catch (err) {
        const why = err instanceof ProtocolViolation ? err.message : String(err)
        this.fail(this.#remote(`the server broke the protocol: ${why}`))
        return
      }
      if (this.#failure) return
    }
  }

  #onFrame(f: Frame): void {
    const p = this.#pending.get(f.id)
    if (p === undefined) throw new ProtocolViolation(`frame for unknown request ${f.id}`)
    if (f.type === T.ERROR) {
      this.#pending.delete(f.id)
      const r = new FieldReader(f.payload)
      const code = r.str()
      const message = r.str()
      p.reject(remoteError(this.location, code, message))
      return
    }
    if (f.type === T.DATA && p.body !== undefined) {
      if (p.filled! + f.payload.length > p.body.length)
        throw new ProtocolViolation('more data than announced')
      p.body.set(f.payload, p.filled)
      p.filled! += f.payload.length
      if (p.filled === p.body.length) {
        this.#pending.delete(f.id)
        p.resolve(f)
      }
      return
    }
    if (f.type === T.ITEMS && p.items !== undefined) {
      const r = new FieldReader(f.payload)
      const n = r.u16()
      for (let i = 0; i < n; i++) p.items.push({ name: r.str(), size: r.u64(), mtime: r.u64() })
      r.end()
      return
    }
    if (p.type === T.GET && f.type === T.OK) {
      if (p.body !== undefined) throw new ProtocolViolation(`a second OK for get ${f.id}`)
      const r = new FieldReader(f.payload)
      const length = r.u64()
      r.end()
      if (p.expect !== undefined ? length !== p.expect : length > MAX_OBJECT)
        throw new ProtocolViolation(`get ${f.id} answered with ${length} bytes`)
      p.body = Buffer.allocUnsafe(length)
      p.filled = 0
      if (length === 0) {
        this.#pending.delete(f.id)
        p.resolve(f)
      }
      return
    }
    const expected = p.type === T.HELLO ? T.WELCOME : p.type === T.AUTH ? T.AUTH_OK : T.OK
    if (f.type !== expected) throw new ProtocolViolation(`unexpected frame type ${f.type}`)
    this.#pending.delete(f.id)
    p.resolve(f)
  }

  #register(
    type: number,
    extra: Partial<Pending> = {},
  ): { id: number; done: Promise<Frame>; entry: Pending } {
    if (this.#failure) throw this.#failure
    const id = this.#nextId
    this.#nextId = this.#nextId >= 0xffffffff ? 1 : this.#nextId + 1
    let entry!: Pending
    const done = new Promise<Frame>((resolve, reject) => {
      entry = { type, resolve, reject, ...extra }
    })
    this.#pending.set(id, entry)
    return { id, done, entry }
  }

  #request(type: number, payload: Uint8Array): Promise<Frame> {
    const { id, done } = this.#register(type)
    writeBatched(this.socket, frame(type, id, payload))
    return done
  }

  /** Runs `work` once the handshake is done and the server has room for one more request. */
  async #slot<R>(work: () => Promise<R>): Promise<R> {
    await this.ready
    if (this.#busy >= this.#slots) await new Promise<void>((resolve) => this.#queue.push(resolve))
    this.#busy++
    try {
      return await work()
    } finally {
      this.#busy--
      this.#queue.shift()?.()
    }
  }

  /** A request answered by one OK frame. */
  call(type: number, payload: Uint8Array): Promise<FieldReader> {
    return this.#slot(async () => new FieldReader((await this.#request(type, payload)).payload))
  }

  get(payload: Uint8Array, expect: number | undefined): Promise<Buffer> {
    return this.#slot(async () => {
      const { id, done, entry } = this.#register(T.GET, expect === undefined ? {} : { expect })
      writeBatched(this.socket, frame(T.GET, id, payload))
      await done
      return entry.body ?? Buffer.alloc(0)
    })
  }

  list(kind: ObjectKind): Promise<ObjectInfo[]> {
    return this.#slot(async () => {
      const items: ObjectInfo[] = []
      const { id, done } = this.#register(T.LIST, { items })
      writeBatched(this.socket, frame(T.LIST, id, new FieldWriter().u8(kindCode(kind)).finish()))
      await done
      return items
    })
  }

  /**
   * PUT, then the bytes as DATA frames. Settles only once the server answered and every frame
   * was handed to the kernel: `data` is then no longer referenced (the Store contract). The
   * whole object is always sent, even after an early refusal, because the server reads the
   * announced length before the next request.
   */
  put(kind: ObjectKind, name: string, data: Uint8Array): Promise<void> {
    return this.#slot(() => this.#put(kind, name, data))
  }

  async #put(kind: ObjectKind, name: string, data: Uint8Array): Promise<void> {
    // One put's frames at a time (the protocol asks it: the server admits a put whole, and
    // reads nothing else of a connection while a put waits for room).
    const before = this.#writing
    let wrote!: () => void
    this.#writing = new Promise<void>((resolve) => {
      wrote = resolve
    })
    try {
      await before
      return await this.#sendPut(kind, name, data, wrote)
    } finally {
      wrote()
    }
  }

  async #sendPut(kind: ObjectKind, name: string, data: Uint8Array, wrote: () => void): Promise<void> {
    const { id, done } = this.#register(T.PUT)
    // Awaited below, after the frames are written; until then a lost connection must not
    // count as an unhandled rejection.
    done.catch(() => {})
    const head = new FieldWriter().u8(kindCode(kind)).str(name).u64(data.length).finish()
    let written: Promise<void> = writeFrame(this.socket, frame(T.PUT, id, head))
    for (let at = 0; at < data.length; at += MAX_PAYLOAD) {
      const part = data.subarray(at, Math.min(data.length, at + MAX_PAYLOAD))
      this.socket.cork()
      this.socket.write(frameHeader(T.DATA, id, part.length))
      written = writeFrame(this.socket, part)
      this.socket.uncork()
      if (this.socket.writableNeedDrain) await drained(this.socket)
      if (this.#failure) break
    }
    wrote()
    const settled = await Promise.allSettled([done, written])
    if (settled[0].status === 'rejected') throw settled[0].reason
  }

  /** Ends the connection; whatever still waits on it fails with STORAGE_CLOSED. */
  close(): void {
    this.#settle(new StorageError('STORAGE_CLOSED', `${this.location}: closed`))
    this.socket.end()
    // Frames still queued (a put the server is not reading yet) would keep it open: drop them.
    if (this.socket.writableLength > 0) this.socket.destroy()
  }
}

function writeFrame(socket: net.Socket, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve) => socket.write(bytes, () => resolve()))
}

function connectionError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused (is plakar server running?)'
    case 'ENOENT':
      return 'no such socket (is plakar server running?)'
    case 'ECONNRESET':
    case 'EPIPE':
      return 'connection lost'
    case 'ENOTFOUND':
      return 'unknown host'
    default:
      return err.message
  }
}

function remoteError(location: string, code: string, message: string): StorageError {
  return new StorageError(wireCode(code, 'STORAGE_REMOTE'), `${location}: ${message}`)
}

function connectTransport(location: string, t: Transport): net.Socket {
  if (t.kind === 'tcp') return net.connect({ host: t.host, port: t.port })
  if (t.kind === 'unix') return net.connect({ path: t.path })
  let ca: Buffer | undefined
  if (t.ca !== undefined) {
    try {
      ca = readFileSync(t.ca)
    } catch (err) {
      throw new StorageError(
        'STORAGE_BAD_LOCATION',
        `${location}: cannot read the CA file: ${(err as Error).message}`,
      )
    }
  }
  // Without a pin, Node verifies the chain (against the CA file, or the system's) and the
  // name, and refuses anything else. With a pin, the certificate's SHA-256 is the whole
  // check, made by the caller on 'secureConnect' before a byte is sent (Node skips
  // checkServerIdentity for a chain it could not verify, so it cannot be the place).
  return tls.connect({
    host: t.host,
    port: t.port,
    servername: net.isIP(t.host) ? undefined : t.host,
    ...(ca !== undefined && { ca }),
    rejectUnauthorized: t.fingerprint === undefined,
  })
}

/** Why a pinned TLS peer is not the one pinned, or undefined when it is. */
function pinMismatch(socket: tls.TLSSocket, pinned: string): string | undefined {
  const raw = socket.getPeerCertificate()?.raw
  if (raw === undefined) return 'the server sent no certificate'
  const got = new X509Certificate(raw).fingerprint256.replaceAll(':', '').toLowerCase()
  return got === pinned ? undefined : `the server's certificate sha256:${got} is not the pinned one`
}

export class RemoteStore implements Store {
  readonly location: string
  /** Measured on loopback: 8 to 32 in flight restore alike once answers are not delayed. */
  readonly concurrency = 16
  /** A put waits for the server's durable answer: the next one's bytes stream meanwhile. */
  readonly largePuts = 2
  readonly transport: Transport
  readonly #opts: RemoteOptions
  #conn: Connection | undefined
  #closed = false

  constructor(location: string, transport: Transport, opts: RemoteOptions) {
    this.location = location
    this.transport = transport
    this.#opts = opts
  }

  #connection(): Connection {
    if (this.#closed) throw new StorageError('STORAGE_CLOSED', `${this.location}: store is closed`)
    if (this.#conn === undefined || this.#conn.failed) {
      const conn = new Connection(this.location, this.transport, this.#opts)
      conn.onGone = () => {
        if (this.#conn === conn) this.#conn = undefined
      }
      this.#conn = conn
    }
    return this.#conn
  }

  /** The access level the server granted this store's token. */
  access(): Promise<Access> {
    return this.#connection().ready
  }

  async create(): Promise<void> {
    await this.#connection().call(T.CREATE, Buffer.alloc(0))
  }

  async open(): Promise<void> {
    await this.#connection().call(T.OPEN, Buffer.alloc(0))
  }

  async put(kind: ObjectKind, name: string, data: Uint8Array): Promise<void> {
    checkName(this.location, kind, name)
    await this.#connection().put(kind, name, data)
  }

  async get(kind: ObjectKind, name: string, offset?: number, length?: number): Promise<Uint8Array> {
    checkName(this.location, kind, name)
    const range = checkRange(offset, length)
    const w = new FieldWriter().u8(kindCode(kind)).str(name)
    w.u8((offset !== undefined ? 1 : 0) | (range.length !== undefined ? 2 : 0))
    w.u64(range.start).u64(range.length ?? 0)
    return this.#connection().get(w.finish(), range.length)
  }

  async stat(kind: ObjectKind, name: string): Promise<number | undefined> {
    checkName(this.location, kind, name)
    const r = await this.#connection().call(T.STAT, new FieldWriter().u8(kindCode(kind)).str(name).finish())
    const present = r.u8()
    const size = r.u64()
    return present ? size : undefined
  }

  async *list(kind: ObjectKind): AsyncIterable<ObjectInfo> {
    kindCode(kind)
    yield* await this.#connection().list(kind)
  }

  async delete(kind: ObjectKind, name: string): Promise<void> {
    checkName(this.location, kind, name)
    await this.#connection().call(T.DELETE, new FieldWriter().u8(kindCode(kind)).str(name).finish())
  }

  async clean(olderThanMs?: number): Promise<number> {
    const w = new FieldWriter().u8(olderThanMs === undefined ? 0 : 1).u64(Math.max(0, olderThanMs ?? 0))
    return (await this.#connection().call(T.CLEAN, w.finish())).u32()
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#conn?.close()
    this.#conn = undefined
  }
}

/** The token, from PLAKAR_TOKEN or the file PLAKAR_TOKEN_FILE names (first line). */
export function tokenFromEnv(location: string, env: NodeJS.ProcessEnv = process.env): string {
  if (env.PLAKAR_TOKEN) return env.PLAKAR_TOKEN
  const file = env.PLAKAR_TOKEN_FILE
  if (file) {
    try {
      return readFileSync(file, 'utf8').split('\n')[0]!.trim()
    } catch (err) {
      throw new StorageError(
        'STORAGE_BAD_LOCATION',
        `${location}: cannot read PLAKAR_TOKEN_FILE ${file}: ${(err as Error).message}`,
      )
    }
  }
  throw new StorageError(
    'STORAGE_DENIED',
    `${location}: no token: set PLAKAR_TOKEN, or PLAKAR_TOKEN_FILE to a file holding it`,
  )
}

function hostPort(url: URL, shown: string): { host: string; port: number } {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
  if (host === '')
    throw new StorageError('STORAGE_BAD_LOCATION', `${shown}: no host (write ${url.protocol}//HOST:PORT)`)
  const port = url.port === '' ? DEFAULT_PORT : Number(url.port)
  if (url.pathname !== '' && url.pathname !== '/') {
    throw new StorageError(
      'STORAGE_BAD_LOCATION',
      `${shown}: a server serves one repository: no path after the port`,
    )
  }
  return { host, port }
}

function transportOf(url: URL): Transport {
  const shown = url.href
  const scheme = url.protocol.slice(0, -1).toLowerCase()
  if (scheme === 'plakar+unix') {
    if (url.host !== '')
      throw new StorageError('STORAGE_BAD_LOCATION', `${shown}: write plakar+unix:///path/to/socket`)
    return { kind: 'unix', path: decodeURIComponent(url.pathname) }
  }
  if (scheme === 'plakar+tls') {
    const ca = url.searchParams.get('ca') ?? undefined
    const pin = url.searchParams.get('fingerprint') ?? undefined
    let fingerprint: string | undefined
    if (pin !== undefined) {
      fingerprint = pin
        .replace(/^sha256:/i, '')
        .replaceAll(':', '')
        .toLowerCase()
      if (!/^[0-9a-f]{64}$/.test(fingerprint)) {
        throw new StorageError('STORAGE_BAD_LOCATION', `${shown}: fingerprint= takes sha256:<64 hex digits>`)
      }
    }
    return { kind: 'tls', ...hostPort(url, shown), ...(ca && { ca }), ...(fingerprint && { fingerprint }) }
  }
  return { kind: 'tcp', ...hostPort(url, shown) }
}

function factory(scheme: string): StoreFactory {
  return {
    scheme,
    fromURL(url: URL): Store {
      const transport = transportOf(url)
      const location = url.href.replace(/\/$/, '')
      return new RemoteStore(location, transport, { token: tokenFromEnv(location) })
    },
  }
}

export const remoteStoreFactories: readonly StoreFactory[] = [
  factory('plakar'),
  factory('plakar+unix'),
  factory('plakar+tls'),
]
