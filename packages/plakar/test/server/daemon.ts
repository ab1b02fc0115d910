/**
 * A real `plakar server` for tests: the CLI spawned as a process, which privsep splits into
 * its parent, listener, sessions and storage. It listens on 127.0.0.1 (a free port the
 * kernel picks), on a UNIX socket and, when given a certificate, with TLS; startServer
 * resolves once the parent logs that it is serving, and stop() sends SIGTERM and waits.
 *
 * As root (CI, this machine) the children run as `_plakar`, jailed: the repository then
 * sits in a directory only root may write (under /var/lib/plakar-tests), as the server
 * requires of a jail.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PLAKAR_ARGS } from '../cli/run-cli.js'

export const IS_ROOT = process.getuid?.() === 0
export const SERVER_USER = '_plakar'

/** Tokens the tests' servers know, one per access level. */
export const TOKENS = {
  full: 'full-token-0123456789abcdef',
  'append-only': 'append-token-0123456789abcdef',
  'read-only': 'read-token-0123456789abcdef',
} as const

/** The server user exists, and so does the empty jail (both only as root). */
export function ensureServerUser(): void {
  if (!IS_ROOT) return
  try {
    execFileSync('id', [SERVER_USER], { stdio: 'ignore' })
  } catch {
    execFileSync('useradd', ['-r', '-M', '-d', '/nonexistent', '-s', '/usr/sbin/nologin', SERVER_USER])
  }
  mkdirSync('/var/empty', { recursive: true, mode: 0o755 })
}

/** A directory to hold repositories a server may jail itself in (root's, 0755, when root). */
export function serverBase(): string {
  if (!IS_ROOT) return mkdtempSync(join(tmpdir(), 'plakar-server-'))
  mkdirSync('/var/lib/plakar-tests', { recursive: true, mode: 0o755 })
  chmodSync('/var/lib/plakar-tests', 0o755)
  const dir = mkdtempSync('/var/lib/plakar-tests/t-')
  chmodSync(dir, 0o755)
  return dir
}

export interface ServerOptions {
  /** The repository location the server serves. */
  readonly repository: string
  /** Where the UNIX socket and the configuration go (a directory of the test's). */
  readonly dir: string
  /** server.conf lines added to the generated ones. */
  readonly extra?: string
  readonly tls?: { readonly certificate: string; readonly key: string }
  /** More environment for the daemon (PLAKAR_TOKEN, for a plakar:// upstream). */
  readonly env?: Record<string, string>
}

export interface RunningServer {
  readonly process: ChildProcess
  readonly tcp: string
  readonly unix: string
  readonly tls: string | undefined
  /** Everything the daemon logged so far. */
  log(): string
  /** SIGTERM, then the exit status. */
  stop(): Promise<number | null>
  /** Resolves with the exit status when the daemon exits by itself. */
  readonly exited: Promise<number | null>
}

let serial = 0

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const n = serial++
  const sock = join(opts.dir, `server-${process.pid}-${n}.sock`)
  const conf = join(opts.dir, `server-${n}.conf`)
  const lines = [
    `repository ${JSON.stringify(opts.repository)}`,
    `user ${SERVER_USER}`,
    'listen on 127.0.0.1 port 0',
    `listen on ${JSON.stringify(sock)}`,
    ...(opts.tls
      ? [
          `listen on 127.0.0.1 port 0 tls certificate ${JSON.stringify(opts.tls.certificate)} key ${JSON.stringify(opts.tls.key)}`,
        ]
      : []),
    'token $full access full',
    'token $append access append-only',
    'token $read access read-only',
    opts.extra ?? '',
  ]
  writeFileSync(conf, `${lines.join('\n')}\n`, { mode: 0o600 })
  const child = spawn(
    process.execPath,
    [
      ...PLAKAR_ARGS,
      'server',
      '-config',
      conf,
      '-D',
      `full=${TOKENS.full}`,
      '-D',
      `append=${TOKENS['append-only']}`,
      '-D',
      `read=${TOKENS['read-only']}`,
    ],
    { env: { PATH: process.env.PATH, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let log = ''
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const serving = await new Promise<string>((resolve, reject) => {
    const look = () => {
      const m = /serving .*; listening on (.*)\n/.exec(log)
      if (m) {
        child.stderr!.off('data', look)
        resolve(m[1]!)
      }
    }
    child.stderr!.on('data', look)
    void exited.then((code) => reject(new Error(`plakar server exited with ${code}:\n${log}`)))
  })
  const tcpAddrs = serving.split(', ').filter((w) => w.startsWith('127.0.0.1:'))
  const port = (w: string) => w.split(' ')[0]!.slice('127.0.0.1:'.length)
  const plain = tcpAddrs.find((w) => !w.endsWith('(tls)'))!
  const secure = tcpAddrs.find((w) => w.endsWith('(tls)'))
  return {
    process: child,
    tcp: `plakar://127.0.0.1:${port(plain)}`,
    unix: `plakar+unix://${sock}`,
    tls: secure && `plakar+tls://127.0.0.1:${port(secure)}`,
    log: () => log,
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      return exited
    },
  }
}

/** A self-signed certificate for 127.0.0.1 (openssl), and its SHA-256 fingerprint. */
export function makeCertificate(dir: string): { certificate: string; key: string; fingerprint: string } {
  const certificate = join(dir, 'server.crt')
  const key = join(dir, 'server.key')
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      certificate,
    ],
    { stdio: 'ignore' },
  )
  const pem = readFileSync(certificate, 'utf8')
  const fingerprint = new X509Certificate(pem).fingerprint256.replaceAll(':', '').toLowerCase()
  return { certificate, key, fingerprint }
}

export function removeBase(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
}
