/**
 * The plakar server as an OpenBSD-style privilege-separated daemon (@poolp/privsep), its
 * processes talking and handing over connections with @poolp/ipcmsg:
 *
 *   parent    root: parses server.conf, binds every listening socket (privileged ports
 *             work), starts the others, and sends each only what it needs;
 *   listener  accepts on the sockets the parent bound and hands each connection, as a
 *             descriptor, to the least busy session; holds max connections;
 *   sessionN  speak the protocol (TLS included) to untrusted clients: the only processes
 *             that parse network bytes; jailed in an empty directory, unprivileged;
 *   storage   alone opens the repository (jailed in the directory that holds it, for fs),
 *             and answers the sessions' queries (storage-link.ts); never sees the network.
 *
 * The promises are written in docs/plakar-server.md. Every child is the same program (the
 * plakar CLI) re-executed by privsep; the layout every process must declare identically
 * (user, jails, session count) travels in the environment, secrets only over ipcmsg.
 */
import { chownSync, lstatSync, mkdirSync, rmSync, statSync } from 'node:fs'
import net from 'node:net'
import { availableParallelism } from 'node:os'
import { basename, dirname } from 'node:path'
import tls from 'node:tls'
import { closeFd, dupFd, getpwnam, listenUnix, msgpack } from '@poolp/ipcmsg'
import { log, type Message, Privsep } from '@poolp/privsep'
import { isPlakarError, StorageError } from '../errors.js'
import { FsStore, openStore, parseLocation, type Store } from '../storage/index.js'
import { urlPath } from '../storage/location.js'
import type { Access } from '../storage/remote/protocol.js'
import type { ListenSpec, ServerConfig } from './config.js'
import { ByteBudget, serveConnection, tokenRule } from './session.js'
import { encodeLink, LINK, LINK_NAMES, LinkedStore, StoreServer } from './storage-link.js'

/** Where listener and sessions are jailed when started as root: empty, owned by root. */
export const EMPTY_JAIL = '/var/empty'
/** Requests in flight per connection. */
const MAX_IN_FLIGHT = 64
/** Bytes of puts all connections of one session process may hold at once. */
const SESSION_BUDGET = 256 << 20
/** Bytes of get answers a session process holds at once, over all its connections. */
const SESSION_READ_BUDGET = 128 << 20

/** Application message types, besides the storage link's (1-11). */
const MSG = {
  LISTEN: 20,
  LISTEN_DONE: 21,
  SESSION_CONFIG: 22,
  STORAGE_CONFIG: 23,
  CONNECTION: 30,
  CLOSED: 31,
  ACK: 40,
} as const
const NAMES: Record<number, string> = {
  ...LINK_NAMES,
  20: 'LISTEN',
  21: 'LISTEN_DONE',
  22: 'SESSION_CONFIG',
  23: 'STORAGE_CONFIG',
  30: 'CONNECTION',
  31: 'CLOSED',
  40: 'ACK',
}

/** What every process declares the same way; the parent puts it in the environment. */
interface Layout {
  readonly sessions: number
  /** undefined: not root, nothing is dropped or jailed. */
  readonly user?: string
  /** The storage process's jail (fs repositories), or undefined. */
  readonly storageJail?: string
  /**
   * A repository the storage process opens before its jail, as root, and then reaches only
   * through the descriptors it holds (sqlite: the database and its WAL), or undefined.
   */
  readonly openBeforeJail?: string
  /** Largest message between processes: an object and its header. */
  readonly maxMessage: number
}
const LAYOUT_ENV = 'PLAKAR_SERVER_LAYOUT'
const SECRET_ENV = ['PLAKAR_TOKEN', 'PLAKAR_TOKEN_FILE', 'PLAKAR_PASSPHRASE'] as const

interface SessionConfig {
  tokens: [string, Access][]
  authTimeout: number
  timeout: number
  maxObject: number
  /** Per listen index, the PEM certificate and key of a TLS socket. */
  tls: Record<number, [string, string]>
  debug: boolean
}
interface StorageConfig {
  /** The location to open, as seen from inside the storage process's jail. */
  location: string
  /** The token for a plakar:// upstream (the server's own PLAKAR_TOKEN), if any. */
  upstreamToken?: string
}
interface ListenInfo {
  index: number
  shown: string
}
interface ConnectionInfo {
  index: number
  peer: string
}

// At module top level: codecs load msgpackr, which a jailed process cannot load later.
const sessionCodec = msgpack<SessionConfig>()
const storageCodec = msgpack<StorageConfig>()
const listenCodec = msgpack<ListenInfo>()
const doneCodec = msgpack<{ maxConnections: number }>()
const connectionCodec = msgpack<ConnectionInfo>()

export interface DaemonInput {
  readonly config: ServerConfig
  /** The repository's location (from the configuration or `plakar on`). */
  readonly location: string
  /** PEM files read by the parent, per listen index. */
  readonly tlsFiles: Record<number, [string, string]>
  /** The token a plakar:// upstream is reached with (the server's PLAKAR_TOKEN). */
  readonly upstreamToken?: string
  readonly debug: boolean
}

/** True in a process privsep re-executed as one of the server's children. */
export function isServerChild(): boolean {
  return new Privsep().isChild && process.env[LAYOUT_ENV] !== undefined
}

const sessionName = (i: number) => `session${i + 1}`

/** Declares the daemon (identically in every process) and starts it. Children never return. */
export async function runDaemon(input: DaemonInput | undefined): Promise<void> {
  const daemon = new Privsep()
  const layout = daemon.isChild ? readLayout() : makeLayout(input!)
  const sessions = Array.from({ length: layout.sessions }, (_, i) => sessionName(i))

  daemon.parent('parent', () => parentMain(daemon, input!, sessions))
  const listener = daemon.child('listener', async () => {}).talksTo('parent', ...sessions)
  const storage = daemon.child('storage', async () => {}).talksTo('parent')
  for (const name of sessions) daemon.child(name, async () => {}).talksTo('parent', 'storage')
  if (layout.user !== undefined) {
    listener.username = layout.user
    listener.chrootPath = EMPTY_JAIL
    storage.username = layout.user
    if (layout.storageJail !== undefined) storage.chrootPath = layout.storageJail
    for (const name of sessions) {
      daemon.getProcess(name).username = layout.user
      daemon.getProcess(name).chrootPath = EMPTY_JAIL
    }
  }

  if (daemon.isChild) declareChildHandlers(daemon, sessions, layout)
  await daemon.start({ program: 'plakar', messageNames: NAMES, maxMessageSize: layout.maxMessage })
}

function makeLayout(input: DaemonInput): Layout {
  const root = process.getuid?.() === 0
  let storageJail: string | undefined
  let openBeforeJail: string | undefined
  if (root) {
    const url = parseLocation(input.location)
    if (url.protocol === 'fs:') storageJail = dirname(urlPath(url))
    if (url.protocol === 'sqlite:') {
      storageJail = EMPTY_JAIL
      openBeforeJail = input.location
    }
  }
  const layout: Layout = {
    sessions: Math.min(4, Math.max(1, availableParallelism())),
    ...(root && { user: input.config.user }),
    ...(storageJail !== undefined && { storageJail }),
    ...(openBeforeJail !== undefined && { openBeforeJail }),
    maxMessage: input.config.maxObject + (1 << 16),
  }
  process.env[LAYOUT_ENV] = JSON.stringify(layout)
  // -d: privsep's own lines too (children ready, channels closed).
  if (input.debug) process.env.PRIVSEP_DEBUG = '1'
  // Children inherit the environment and are given the parent's arguments: secrets reach
  // them over ipcmsg only, if at all. -D values (tokens, often) are blanked.
  for (const secret of SECRET_ENV) delete process.env[secret]
  redactMacros(process.argv)
  return layout
}

/** `-D name=value` and `-D=name=value` become `name=-` in place (privsep re-executes with argv). */
export function redactMacros(argv: string[]): void {
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--') return
    if ((a === '-D' || a === '--D') && i + 1 < argv.length) {
      argv[i + 1] = argv[i + 1]!.replace(/=.*/s, '=-')
      i++
    } else if (/^--?D=/.test(a)) {
      argv[i] = a.replace(/^(--?D=[^=]*)=.*/s, '$1=-')
    }
  }
}

function readLayout(): Layout {
  const text = process.env[LAYOUT_ENV]
  if (text === undefined) throw new Error(`${LAYOUT_ENV} is not set: a server child started by hand?`)
  return JSON.parse(text) as Layout
}

// ---- parent ----

async function parentMain(daemon: Privsep, input: DaemonInput, sessions: string[]): Promise<void> {
  const { config } = input
  const root = process.getuid?.() === 0
  if (!root)
    log.warn(`not running as root: cannot drop privileges or jail the processes (uid ${process.getuid?.()})`)

  // Storage first: the repository must open (or be creatable) before clients arrive.
  const url = parseLocation(input.location)
  let inside = input.location
  if (root && url.protocol === 'fs:') {
    const path = urlPath(url)
    const user = getpwnam(config.user)!
    let st = statSync(path, { throwIfNoEntry: false })
    if (st === undefined) {
      // The jail (its parent) is root's; the repository directory is the server user's.
      mkdirSync(path, { mode: 0o700 })
      chownSync(path, user.uid, user.gid)
      st = statSync(path)
    }
    if (st.uid !== user.uid) {
      throw new Error(
        `${path} is owned by uid ${st.uid}, not by ${config.user}: chown -R ${config.user} ${path}`,
      )
    }
    inside = `fs:///${basename(path)}`
  }
  await daemon.getProcess('storage').query(
    MSG.STORAGE_CONFIG,
    storageCodec.encode({
      location: inside,
      ...(input.upstreamToken !== undefined && { upstreamToken: input.upstreamToken }),
    }),
    { timeout: 30_000 },
  )

  const sessionConfig: SessionConfig = {
    tokens: config.tokens.map((t) => [tokenRule(t.token, t.access).digest.toString('hex'), t.access]),
    authTimeout: config.authTimeout,
    timeout: config.timeout,
    maxObject: config.maxObject,
    tls: input.tlsFiles,
    debug: input.debug,
  }
  for (const name of sessions) {
    await daemon
      .getProcess(name)
      .query(MSG.SESSION_CONFIG, sessionCodec.encode(sessionConfig), { timeout: 30_000 })
  }

  const shown: string[] = []
  for (const [index, spec] of config.listen.entries()) {
    const { fd, where } = await bind(spec)
    shown.push(where)
    await daemon.getProcess('listener').query(MSG.LISTEN, listenCodec.encode({ index, shown: where }), {
      fd,
      timeout: 30_000,
    })
  }
  await daemon
    .getProcess('listener')
    .query(MSG.LISTEN_DONE, doneCodec.encode({ maxConnections: config.maxConnections }), { timeout: 30_000 })
  log.info(`serving ${input.location}; listening on ${shown.join(', ')}`)
}

/** Binds one listening socket here, in the parent, and returns a descriptor for the listener. */
async function bind(spec: ListenSpec): Promise<{ fd: number; where: string }> {
  if (spec.kind === 'unix') {
    await removeStaleSocket(spec.path)
    let fd: number
    try {
      fd = listenUnix(spec.path, 511)
    } catch (err) {
      throw new Error(`cannot listen on ${spec.path}: ${(err as Error).message}`)
    }
    // The socket file goes when the parent does, however it stops (the children die with it).
    process.once('exit', () => rmSync(spec.path, { force: true }))
    return { fd, where: spec.path }
  }
  const server = net.createServer()
  const host = spec.host === 'localhost' ? '127.0.0.1' : spec.host
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(new Error(`cannot listen on ${host} port ${spec.port}: ${err.message}`)),
    )
    // 'listening' comes before any accept could run: the descriptor is taken and the
    // parent's own copy closed in the same turn, so the parent never accepts.
    server.listen({ host, port: spec.port, backlog: 511, exclusive: true }, () => resolve())
  })
  const handle = (server as unknown as { _handle: { fd: number } })._handle
  const fd = dupFd(handle.fd)
  const address = server.address() as net.AddressInfo
  server.close()
  const where = `${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}${spec.tls ? ' (tls)' : ''}`
  return { fd, where }
}

/**
 * A socket file left by a server that died without removing it is removed; one that a live
 * server answers on is an error, as smtpd's control socket does.
 */
async function removeStaleSocket(path: string): Promise<void> {
  const st = lstatSync(path, { throwIfNoEntry: false })
  if (st === undefined) return
  if (!st.isSocket()) throw new Error(`cannot listen on ${path}: something that is not a socket is there`)
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect({ path })
    probe.once('connect', () => {
      probe.destroy()
      resolve(true)
    })
    probe.once('error', () => resolve(false))
  })
  if (live) throw new Error(`cannot listen on ${path}: a server is already listening there`)
  rmSync(path, { force: true })
}

/**
 * A store opened before the jail: its medium exists by then (made if need be), so a client's
 * create() finds it there (STORAGE_EXISTS, after which a repository create resumes) rather
 * than trying to make it again from inside the jail.
 */
function openedEarly(store: Store): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'create') {
        return async () => {
          throw new StorageError(
            'STORAGE_EXISTS',
            `${target.location}: the store exists (opened by the server)`,
          )
        }
      }
      const value = Reflect.get(target, prop, receiver)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

// ---- children ----

function declareChildHandlers(daemon: Privsep, sessions: string[], layout: Layout): void {
  const me = daemon.getCurrentProcess().name
  if (me === 'storage') declareStorage(daemon, sessions, layout)
  else if (me.startsWith('session')) declareSession(daemon)
  else if (me === 'listener') declareListener(daemon, sessions)
}

function ack(msg: Message): void {
  msg.reply(MSG.ACK)
}

function declareStorage(daemon: Privsep, sessions: string[], layout: Layout): void {
  let store: Store | undefined
  let early: Store | undefined
  const me = daemon.getCurrentProcess()
  if (layout.openBeforeJail !== undefined) {
    const location = layout.openBeforeJail
    me.preChrootHandler(async () => {
      // Still root, outside the jail: open (or make) the store, whose descriptors are then
      // all this process keeps of it.
      early = openStore(location)
      try {
        await early.open()
      } catch (err) {
        if (!isPlakarError(err, 'STORAGE_NOT_FOUND')) throw err
        await early.create()
      }
      early = openedEarly(early)
    })
  }
  me.preStartHandler(async () => {
    daemon.getParent().setHandler(MSG.STORAGE_CONFIG, async (msg) => {
      const { location, upstreamToken } = storageCodec.decode(msg.payload)
      if (upstreamToken !== undefined) process.env.PLAKAR_TOKEN = upstreamToken
      store =
        early ??
        (location.startsWith('fs:///') ? new FsStore(decodeURI(location.slice(5))) : openStore(location))
      ack(msg)
    })
    for (const name of sessions) {
      let server: StoreServer | undefined
      for (const type of Object.values(LINK)) {
        if (type === LINK.OK || type === LINK.ERROR) continue
        daemon.getProcess(name).setHandler(type, async (msg) => {
          if (store === undefined) throw new Error('storage query before the configuration')
          server ??= new StoreServer(store, layout.maxMessage - (1 << 16))
          const answer = await server.answer(msg.type, msg.payload)
          try {
            msg.reply(answer.type, answer.payload)
          } catch (err) {
            // An answer the channel cannot take (too large, queue full) must not take the
            // storage process down: the session gets an error instead.
            log.warn(`storage: answer to ${name} not sent: ${(err as Error).message}`)
            try {
              msg.reply(LINK.ERROR, encodeLink({ code: 'STORAGE_IO', message: 'answer not sent' }))
            } catch {
              // The channel takes nothing now: the session's query fails when the channel does.
            }
          }
        })
      }
    }
  })
}

function declareSession(daemon: Privsep): void {
  daemon.getCurrentProcess().preStartHandler(async () => {
    let config: SessionConfig | undefined
    const contexts = new Map<number, tls.SecureContext>()
    const budget = new ByteBudget(SESSION_BUDGET)
    const readBudget = new ByteBudget(SESSION_READ_BUDGET)
    const storage = daemon.getProcess('storage')
    const store = new LinkedStore(async (type, payload) => storage.query(type, payload))
    daemon.getParent().setHandler(MSG.SESSION_CONFIG, (msg) => {
      config = sessionCodec.decode(msg.payload)
      for (const [index, [cert, key]] of Object.entries(config.tls)) {
        contexts.set(Number(index), tls.createSecureContext({ cert, key, minVersion: 'TLSv1.2' }))
      }
      ack(msg)
    })
    const listener = daemon.getProcess('listener')
    listener.setHandler(MSG.CONNECTION, (msg) => {
      const fd = msg.fd
      if (fd === null || fd === undefined) throw new Error('CONNECTION without a descriptor')
      const info = connectionCodec.decode(msg.payload)
      if (config === undefined) {
        closeFd(fd)
        listener.message(MSG.CLOSED)
        return
      }
      const raw = new net.Socket({ fd, readable: true, writable: true })
      // Answers are small frames often: Nagle with delayed ACKs would hold each for 40 ms.
      raw.setNoDelay(true)
      const context = contexts.get(info.index)
      const socket = context ? new tls.TLSSocket(raw, { isServer: true, secureContext: context }) : raw
      if (socket instanceof tls.TLSSocket) socket.on('error', () => socket.destroy())
      const c = config
      void serveConnection(
        socket,
        store,
        {
          tokens: c.tokens.map(([hex, access]) => ({ digest: Buffer.from(hex, 'hex'), access })),
          authTimeout: c.authTimeout,
          idleTimeout: c.timeout,
          maxObject: c.maxObject,
          maxInFlight: MAX_IN_FLIGHT,
          budget,
          readBudget,
          log: (line) => log.info(line),
          debug: c.debug,
        },
        info.peer,
      ).then(() => {
        raw.destroy()
        listener.message(MSG.CLOSED)
      })
    })
  })
}

function declareListener(daemon: Privsep, sessions: string[]): void {
  daemon.getCurrentProcess().preStartHandler(async () => {
    const load = new Map<string, number>(sessions.map((s) => [s, 0]))
    let open = 0
    let max = 0
    for (const name of sessions) {
      daemon.getProcess(name).setHandler(MSG.CLOSED, () => {
        open--
        load.set(name, load.get(name)! - 1)
      })
    }
    const parent = daemon.getParent()
    parent.setHandler(MSG.LISTEN, async (msg) => {
      const fd = msg.fd
      if (fd === null || fd === undefined) throw new Error('LISTEN without a descriptor')
      const { index, shown } = listenCodec.decode(msg.payload)
      const server = net.createServer({ pauseOnConnect: true }, (socket) => {
        const remote =
          socket.remoteAddress !== undefined
            ? `${socket.remoteAddress}:${socket.remotePort}`
            : `${shown} (local)`
        if (open >= max) {
          log.info(`${remote}: refused: max connections (${max}) reached`)
          socket.destroy()
          return
        }
        const handle = (socket as unknown as { _handle: { fd: number } })._handle
        let fd: number
        try {
          fd = dupFd(handle.fd)
        } catch (err) {
          log.warn(`${remote}: cannot hand over: ${(err as Error).message}`)
          socket.destroy()
          return
        }
        socket.destroy()
        let target = sessions[0]!
        for (const s of sessions) if (load.get(s)! < load.get(target)!) target = s
        open++
        load.set(target, load.get(target)! + 1)
        daemon
          .getProcess(target)
          .message(MSG.CONNECTION, connectionCodec.encode({ index, peer: remote }), { fd })
      })
      server.on('error', (err) => log.warn(`${shown}: ${err.message}`))
      await new Promise<void>((resolve) => server.listen({ fd }, () => resolve()))
      ack(msg)
    })
    parent.setHandler(MSG.LISTEN_DONE, (msg) => {
      max = doneCodec.decode(msg.payload).maxConnections
      ack(msg)
    })
  })
}
