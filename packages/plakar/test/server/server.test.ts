/**
 * plakar server as users and attackers meet it: the real daemon (privsep's processes), the
 * real CLI against it over TCP and a UNIX socket, token rights, hostile bytes on raw
 * sockets, and, as root, each process's credentials and jail read from /proc.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { digestTree } from '../../bench/corpus.js'
import { FieldWriter, frame, hello, kindCode, T } from '../../src/storage/remote/protocol.js'
import { plakar } from '../cli/run-cli.js'
import {
  ensureServerUser,
  IS_ROOT,
  makeCertificate,
  type RunningServer,
  removeBase,
  SERVER_USER,
  serverBase,
  startServer,
  TOKENS,
} from './daemon.js'

let base = ''
let server: RunningServer
let cert: ReturnType<typeof makeCertificate>
const env = (token: string) => ({
  PLAKAR_TOKEN: token,
  PLAKAR_PASSPHRASE: 'server test passphrase',
  HOME: base,
  XDG_CACHE_HOME: join(base, 'cache'),
})

function writeTree(root: string, seed: number): string {
  mkdirSync(join(root, 'a/b/c'), { recursive: true })
  for (let i = 0; i < 20; i++)
    writeFileSync(join(root, 'a', `f${i}.txt`), `seed ${seed} file ${i}\n`.repeat(i * 50 + 1))
  writeFileSync(join(root, 'a/b/c/big.bin'), Buffer.alloc(3 << 20, seed))
  return root
}

async function ok(args: string[], token: string = TOKENS.full) {
  const r = await plakar(args, { env: env(token), cwd: base })
  if (r.status !== 0) throw new Error(`plakar ${args.join(' ')}: ${r.status}: ${r.stderr}`)
  return r
}

/** Sends bytes on a raw connection and resolves with what came back once the server closed it. */
function raw(
  port: number,
  send: (s: net.Socket) => void,
  limitMs = 20_000,
): Promise<{ closed: boolean; got: Buffer }> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port })
    const got: Buffer[] = []
    const timer = setTimeout(() => {
      s.destroy()
      resolve({ closed: false, got: Buffer.concat(got) })
    }, limitMs)
    s.on('data', (d) => got.push(d))
    s.on('error', () => {})
    s.on('close', () => {
      clearTimeout(timer)
      resolve({ closed: true, got: Buffer.concat(got) })
    })
    s.on('connect', () => send(s))
  })
}

const portOf = (url: string) => Number(new URL(url).port)

/** HELLO and AUTH with `token`, as the first bytes of a raw connection (answers unread). */
const handshake = (token: string) =>
  Buffer.concat([frame(T.HELLO, 1, hello()), frame(T.AUTH, 2, Buffer.from(token, 'utf8'))])

/**
 * A connection that sends `bytes` and nothing more; it reads (and drops) the answers unless
 * `unread`. `closed` resolves when the server closes it (a socket that reads nothing never
 * sees the close: watch the server's log for those).
 */
function stall(port: number, bytes: Buffer, unread = false): { closed: Promise<void>; socket: net.Socket } {
  const socket = net.connect({ host: '127.0.0.1', port })
  socket.on('error', () => {})
  socket.on('connect', () => {
    socket.write(bytes)
    if (unread) socket.pause()
  })
  if (!unread) socket.on('data', () => {})
  return { socket, closed: new Promise((resolve) => socket.on('close', () => resolve())) }
}

/** Waits until the server has logged a line matching `pattern`. */
async function logged(pattern: RegExp, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!pattern.test(server.log())) {
    if (Date.now() > deadline) throw new Error(`the server never logged ${pattern}:\n${server.log()}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

function header(type: number, id: number, payloadLength: number): Buffer {
  const b = Buffer.alloc(9)
  b.writeUInt32BE(5 + payloadLength, 0)
  b.writeUInt8(type, 4)
  b.writeUInt32BE(id, 5)
  return b
}

beforeAll(async () => {
  ensureServerUser()
  base = serverBase()
  cert = makeCertificate(base)
  server = await startServer({
    repository: join(base, 'repo'),
    dir: base,
    tls: cert,
    extra: 'max connections 40\nauth timeout 1s\ntimeout 5s',
  })
  await ok(['on', server.tcp, 'create'])
}, 60_000)

afterAll(async () => {
  await server?.stop()
  removeBase(base)
})

/** The server still serves: a full client lists the repository. */
async function stillServing(): Promise<void> {
  const r = await ok(['on', server.unix, 'ls'])
  expect(r.status).toBe(0)
  expect(server.process.exitCode).toBe(null)
}

describe('plakar server', () => {
  it('push over TCP, pull over the UNIX socket, byte for byte; check is clean', async () => {
    const tree = writeTree(join(base, 'tree1'), 1)
    await ok(['on', server.tcp, 'push', tree])
    const into = join(base, 'restore1')
    mkdirSync(into)
    await ok(['on', server.unix, 'pull', '-path', into, 'latest'])
    expect(digestTree(join(into, tree)).digest).toBe(digestTree(tree).digest)
    const check = await ok(['on', server.tcp, 'check'])
    expect(check.stdout.toString()).toMatch(/no damage/)
  })

  it('enforces each token: read-only reads, append-only adds but never deletes, full may', async () => {
    const tree = writeTree(join(base, 'tree2'), 2)
    const denied = await plakar(['on', server.tcp, 'push', tree], {
      env: env(TOKENS['read-only']),
      cwd: base,
    })
    expect(denied.status).not.toBe(0)
    expect(denied.stderr.trim().split('\n')).toHaveLength(1)
    expect(denied.stderr).toMatch(/read-only token may not (put|create)/)
    expect((await ok(['on', server.tcp, 'ls'], TOKENS['read-only'])).stdout.toString()).toMatch(/tree1/)

    await ok(['on', server.tcp, 'push', tree], TOKENS['append-only'])
    const ls = (await ok(['on', server.tcp, 'ls'])).stdout.toString()
    const id = /^\S+\s+([0-9a-f-]{36}).*tree2/m.exec(ls)![1]!
    const rm = await plakar(['on', server.tcp, 'rm', id], { env: env(TOKENS['append-only']), cwd: base })
    expect(rm.status).not.toBe(0)
    expect(rm.stderr).toMatch(/append-only token may not delete snapshot objects/)
    const prune = await plakar(['on', server.tcp, 'prune'], { env: env(TOKENS['append-only']), cwd: base })
    expect(prune.status).not.toBe(0)
    expect(prune.stderr).toMatch(/append-only token may not/)
    expect((await ok(['on', server.tcp, 'ls'])).stdout.toString()).toContain(id)

    await ok(['on', server.tcp, 'rm', id])
    expect((await ok(['on', server.tcp, 'ls'])).stdout.toString()).not.toContain(id)
  })

  it('TLS: verified against a pinned fingerprint or a CA file, never an unknown certificate', async () => {
    const tls = server.tls!
    const pinned = `${tls}?fingerprint=sha256:${cert.fingerprint}`
    // Both verify, so both list (ok() fails the test otherwise).
    await ok(['on', pinned, 'ls'])
    await ok(['on', `${tls}?ca=${encodeURIComponent(cert.certificate)}`, 'ls'])
    for (const [url, why] of [
      [tls, /self.signed|unable to verify|certificate/i],
      [`${tls}?fingerprint=sha256:${'0'.repeat(64)}`, /not the pinned one/],
    ] as const) {
      const r = await plakar(['on', url, 'ls'], { env: env(TOKENS.full), cwd: base })
      expect(r.status, url).toBe(1)
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1)
      expect(r.stderr).toMatch(why)
    }
  })

  it('a wrong token gets one line and a non-zero exit', async () => {
    const r = await plakar(['on', server.tcp, 'ls'], { env: env('not-the-token-at-all'), cwd: base })
    expect(r.status).toBe(1)
    expect(r.stderr.trim()).toBe(`plakar: ${server.tcp}: authentication failed: unknown token`)
  })

  it('closes on random bytes, a 4 GiB frame, truncated frames and requests before authentication', async () => {
    const port = portOf(server.tcp)
    const random = await raw(port, (s) =>
      s.write(Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) & 255))),
    )
    expect(random.closed).toBe(true)
    expect(random.got.length).toBe(0)
    const huge = await raw(port, (s) => s.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 1])))
    expect(huge.closed).toBe(true)
    // GET before HELLO: no answer, closed.
    const early = await raw(port, (s) => s.write(Buffer.concat([header(19, 1, 3), Buffer.from([2, 0, 0])])))
    expect(early.closed).toBe(true)
    expect(early.got.length).toBe(0)
    // Half a frame, then nothing: closed by the auth timeout (1 s here).
    const started = Date.now()
    const truncated = await raw(port, (s) => s.write(header(1, 1, 8).subarray(0, 6)))
    expect(truncated.closed).toBe(true)
    expect(Date.now() - started).toBeLessThan(15_000)
    await stillServing()
  })

  it('a byte a second (slowloris) is closed by the auth timeout', async () => {
    const hello = Buffer.concat([header(1, 1, 8), Buffer.from([0x50, 0x4c, 0x4b, 0x52, 0, 1, 0, 1])])
    let timer: NodeJS.Timeout | undefined
    const r = await raw(portOf(server.tcp), (s) => {
      let i = 0
      timer = setInterval(() => {
        if (i < hello.length && !s.destroyed) s.write(hello.subarray(i, ++i))
      }, 1000)
    })
    clearInterval(timer)
    expect(r.closed).toBe(true)
    await stillServing()
  })

  it('puts announced and never sent hold the budget only until the timeout; others push meanwhile', async () => {
    // Four 64 MiB puts fill a session's 256 MiB put budget (sessions are picked by load, so
    // each session gets its share); their bytes never come.
    const port = portOf(server.tcp)
    const put = (i: number) =>
      frame(
        T.PUT,
        10,
        new FieldWriter()
          .u8(kindCode('pack'))
          .str(`ffff${i}`)
          .u64(64 << 20)
          .finish(),
      )
    const stalled = Array.from({ length: 16 }, (_, i) =>
      stall(port, Buffer.concat([handshake(TOKENS.full), put(i)])),
    )
    const src = writeTree(join(base, 'stall-src'), 9)
    // Reads are never held by puts; a push waits for room at most `timeout` (5 s here).
    await ok(['on', server.unix, 'ls'])
    await ok(['on', server.tcp, 'push', src])
    await Promise.all(stalled.map((c) => c.closed))
    expect(server.log()).toMatch(/no bytes of put 10 for 5000 ms/)
    await stillServing()
  }, 120_000)

  it('a put announced before the last one was sent whole, an empty DATA frame, an unsized GET: violations', async () => {
    const put = (id: number) =>
      frame(T.PUT, id, new FieldWriter().u8(kindCode('lock')).str(`eeee${id}`).u64(100).finish())
    const r = await raw(portOf(server.tcp), (s) =>
      s.write(Buffer.concat([handshake(TOKENS.full), put(3), put(4)])),
    )
    expect(r.closed).toBe(true)
    expect(server.log()).toMatch(/put 4 announced before the bytes of put 3/)
    const empty = await raw(portOf(server.tcp), (s) =>
      s.write(Buffer.concat([handshake(TOKENS.full), put(5), frame(T.DATA, 5)])),
    )
    expect(empty.closed).toBe(true)
    expect(server.log()).toMatch(/empty DATA frame for put 5/)
    // A length without an offset: a read the budget could not size.
    const get = frame(T.GET, 6, new FieldWriter().u8(kindCode('pack')).str('aa').u8(2).u64(0).u64(0).finish())
    const unsized = await raw(portOf(server.tcp), (s) =>
      s.write(Buffer.concat([handshake(TOKENS.full), get])),
    )
    expect(unsized.closed).toBe(true)
    expect(server.log()).toMatch(/GET flags 2/)
    await stillServing()
  })

  it('a client that asks for packs and never reads the answers is closed, and others are served', async () => {
    const src = join(base, 'unread-src')
    mkdirSync(src, { recursive: true })
    writeFileSync(join(src, 'random.bin'), randomBytes(20 << 20))
    await ok(['on', server.tcp, 'push', src])
    const packs = readdirSync(join(base, 'repo', 'packs'), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => e.name)
    expect(packs.length).toBeGreaterThan(0)
    const gets = Array.from({ length: 64 }, (_, i) =>
      frame(
        T.GET,
        100 + i,
        new FieldWriter()
          .u8(kindCode('pack'))
          .str(packs[i % packs.length]!)
          .u8(0)
          .u64(0)
          .u64(0)
          .finish(),
      ),
    )
    const greedy = stall(portOf(server.tcp), Buffer.concat([handshake(TOKENS['read-only']), ...gets]), true)
    await stillServing()
    await logged(/not reading its answers for 5000 ms/)
    greedy.socket.destroy()
    await stillServing()
  }, 120_000)

  it('holds max connections against 1,000 idle connections, then serves again', async () => {
    const port = portOf(server.tcp)
    const sockets: net.Socket[] = []
    let closedEarly = 0
    await Promise.all(
      Array.from(
        { length: 1000 },
        () =>
          new Promise<void>((resolve) => {
            const s = net.connect({ host: '127.0.0.1', port })
            sockets.push(s)
            s.on('error', () => {})
            s.on('close', () => closedEarly++)
            s.on('connect', () => resolve())
            s.on('error', () => resolve())
          }),
      ),
    )
    // Everything over the limit is closed at once; the rest go at the auth timeout.
    const deadline = Date.now() + 20_000
    while (closedEarly < 1000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    expect(closedEarly).toBe(1000)
    for (const s of sockets) s.destroy()
    expect(server.log()).toMatch(/refused: max connections \(40\) reached/)
    await stillServing()
  }, 60_000)

  it('keeps its sessions small under all that', () => {
    for (const pid of childPids(server.process.pid!)) {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8')
      const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024
      expect(rss, `${title(pid)} RSS`).toBeLessThan(400 << 20)
    }
  })

  it.runIf(IS_ROOT)(
    'runs each child unprivileged and jailed; only the listener holds the listening sockets',
    () => {
      const pids = childPids(server.process.pid!)
      const byTitle = new Map(pids.map((p) => [title(p), p]))
      expect([...byTitle.keys()].sort()).toEqual(
        [
          'plakar: listener',
          'plakar: storage',
          ...[...byTitle.keys()].filter((t) => t.startsWith('plakar: session')),
        ].sort(),
      )
      expect(title(server.process.pid!)).toBe('plakar: parent')
      const user = execFileSync('id', ['-u', SERVER_USER]).toString().trim()
      const group = execFileSync('id', ['-g', SERVER_USER]).toString().trim()
      for (const [t, pid] of byTitle) {
        const status = readFileSync(`/proc/${pid}/status`, 'utf8')
        expect(/Uid:\s+(.*)/.exec(status)![1]!.split(/\s+/), `${t} uids`).toEqual([user, user, user, user])
        expect(/Gid:\s+(.*)/.exec(status)![1]!.split(/\s+/), `${t} gids`).toEqual([
          group,
          group,
          group,
          group,
        ])
        expect(/Groups:\s*(.*)/.exec(status)![1]!.trim(), `${t} groups`).toBe(group)
        // No token reached a child by its environment or its command line (privsep gives
        // children the parent's arguments: the -D values are blanked before).
        const environ = readFileSync(`/proc/${pid}/environ`, 'latin1')
        for (const token of Object.values(TOKENS)) expect(environ, `${t} environment`).not.toContain(token)
        const root = readlinkSync(`/proc/${pid}/root`)
        expect(root, `${t} jail`).toBe(t === 'plakar: storage' ? base : '/var/empty')
      }
      // Listening sockets (state 0A) on the server's TCP ports, by inode; who holds them.
      const ports = [portOf(server.tcp)]
      const listening = new Set<string>()
      for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
        const f = line.trim().split(/\s+/)
        if (f[3] === '0A' && ports.includes(Number.parseInt(f[1]!.split(':')[1]!, 16))) listening.add(f[9]!)
      }
      for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
        const f = line.trim().split(/\s+/)
        if (f[7] === new URL(server.unix).pathname) listening.add(f[6]!)
      }
      expect(listening.size).toBe(2)
      for (const pid of [server.process.pid!, ...pids]) {
        const holds = socketInodes(pid).filter((i) => listening.has(i))
        expect(holds.length, `${title(pid)} holds listening sockets`).toBe(
          title(pid) === 'plakar: listener' ? 2 : 0,
        )
      }
    },
  )

  it('-n reports every configuration error at once as file:line:col, and exits 1', async () => {
    const conf = join(base, 'bad.conf')
    writeFileSync(
      conf,
      'listen on 127.0.0.1 port 99999\ntoken "short" access full\ntimeout forever\nmax connections 10\n',
      { mode: 0o600 },
    )
    const r = await plakar(['server', '-config', conf, '-n'], { env: env(TOKENS.full), cwd: base })
    expect(r.status).toBe(1)
    expect(r.stderr).toContain(`${conf}:1:`)
    expect(r.stderr).toContain(`${conf}:2:`)
    expect(r.stderr).toContain(`${conf}:3:`)
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/)
    writeFileSync(conf, `listen on 127.0.0.1 port 0\ntoken $t access full\n`, { mode: 0o600 })
    const good = await plakar(['server', '-config', conf, '-D', `t=${TOKENS.full}`, '-n'], {
      env: env(TOKENS.full),
      cwd: base,
    })
    expect(good.stderr).toBe('')
    expect(good.stdout.toString()).toBe('configuration OK\n')
  })
})

function childPids(parent: number): number[] {
  return readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
}

function title(pid: number): string {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!.trim()
}

function socketInodes(pid: number): string[] {
  const out: string[] = []
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
      if (m) out.push(m[1]!)
    } catch {
      // closed meanwhile
    }
  }
  return out
}

describe('plakar server of other backends', () => {
  it('serves a sqlite repository, and another plakar server proxies it', async () => {
    const db = `sqlite://${join(base, 'served.db')}`
    const sqlite = await startServer({ repository: db, dir: base })
    try {
      await ok(['on', sqlite.tcp, 'create'])
      const tree = writeTree(join(base, 'tree-sqlite'), 7)
      await ok(['on', sqlite.tcp, 'push', tree])
      if (IS_ROOT) {
        // Jailed in the empty directory, it reaches the database only through what it opened.
        const storage = childPids(sqlite.process.pid!).find((p) => title(p) === 'plakar: storage')!
        expect(readlinkSync(`/proc/${storage}/root`)).toBe('/var/empty')
      }
      const proxy = await startServer({
        repository: sqlite.tcp,
        dir: base,
        env: { PLAKAR_TOKEN: TOKENS.full },
      })
      try {
        const tree2 = writeTree(join(base, 'tree-proxy'), 8)
        await ok(['on', proxy.unix, 'push', tree2])
        const direct = (await ok(['on', sqlite.unix, 'ls'])).stdout.toString()
        expect(direct).toContain(tree)
        expect(direct).toContain(tree2)
        const into = join(base, 'restore-proxy')
        mkdirSync(into)
        await ok(['on', proxy.tcp, 'pull', '-path', into, 'latest'])
        expect(digestTree(join(into, tree2)).digest).toBe(digestTree(tree2).digest)
        expect((await ok(['on', proxy.tcp, 'check'])).stdout.toString()).toMatch(/no damage/)
      } finally {
        await proxy.stop()
      }
    } finally {
      await sqlite.stop()
    }
  }, 120_000)
})
