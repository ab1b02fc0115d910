/**
 * A throwaway PostgreSQL primary and its streaming hot standby (pg_basebackup -R), for the
 * read-only tests. The machine's own cluster accepts no replication connections (its
 * pg_hba.conf has no `replication` line), and changing its configuration would not leave
 * the machine as found; so the tests run the same Debian binaries on a cluster of their
 * own, in a temporary directory, on two free ports, and remove everything afterwards.
 * Run as root, the servers run as `postgres` (PostgreSQL refuses root).
 */
import { execFile } from 'node:child_process'
import * as fs from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { withClient } from './postgres-fixture.js'

const run = promisify(execFile)
const BIN = process.env.PLAKAR_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin'
const asRoot = process.getuid?.() === 0

export interface Replica {
  /** postgres:// URLs of the primary and the standby, database `postgres`, no schema. */
  readonly primary: string
  /** Empty when started without a standby. */
  readonly standby: string
  /** Restarts the primary (pg_ctl restart -m fast: connections are cut, as a crash would). */
  restartPrimary(): Promise<void>
  /** Resolves once the standby has replayed everything the primary had written. */
  caughtUp(): Promise<void>
  stop(): Promise<void>
}

function pg(tool: string, args: string[]): Promise<unknown> {
  const cmd = join(BIN, tool)
  return asRoot ? run('runuser', ['-u', 'postgres', '--', cmd, ...args]) : run(cmd, args)
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

/** A primary, and its hot standby unless `standby` is false. */
export async function startReplica(opts: { standby?: boolean } = {}): Promise<Replica> {
  const dir = fs.mkdtempSync(join(tmpdir(), 'plakar-pg-replica-'))
  if (asRoot) fs.chownSync(dir, Number((await run('id', ['-u', 'postgres'])).stdout), 0)
  const primaryDir = join(dir, 'primary')
  const standbyDir = join(dir, 'standby')
  const [p1, p2] = [await freePort(), await freePort()]
  const started: string[] = []
  const stop = async () => {
    for (const d of started.reverse())
      await pg('pg_ctl', ['-D', d, '-m', 'immediate', 'stop']).catch(() => undefined)
    fs.rmSync(dir, { recursive: true, force: true })
  }
  try {
    await pg('initdb', ['-D', primaryDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '--no-instructions'])
    fs.appendFileSync(
      join(primaryDir, 'postgresql.conf'),
      `\nport = ${p1}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${dir}'\nshared_buffers = 32MB\n`,
    )
    await pg('pg_ctl', ['-D', primaryDir, '-w', '-t', '120', '-l', join(dir, 'primary.log'), 'start'])
    started.push(primaryDir)
    if (opts.standby === false) return cluster(primaryDir, dir, p1, undefined, stop)
    await pg('pg_basebackup', [
      '-h',
      '127.0.0.1',
      '-p',
      String(p1),
      '-U',
      'postgres',
      '-D',
      standbyDir,
      '-R',
      '-X',
      'stream',
      '--no-sync',
    ])
    fs.appendFileSync(join(standbyDir, 'postgresql.conf'), `\nport = ${p2}\nhot_standby = on\n`)
    await pg('pg_ctl', ['-D', standbyDir, '-w', '-t', '120', '-l', join(dir, 'standby.log'), 'start'])
    started.push(standbyDir)
  } catch (err) {
    await stop()
    throw err
  }
  return cluster(primaryDir, dir, p1, p2, stop)
}

function cluster(
  primaryDir: string,
  dir: string,
  p1: number,
  p2: number | undefined,
  stop: () => Promise<void>,
): Replica {
  const primary = `postgres://postgres@127.0.0.1:${p1}/postgres`
  const standby = p2 === undefined ? '' : `postgres://postgres@127.0.0.1:${p2}/postgres`
  return {
    primary,
    standby,
    stop,
    restartPrimary: async () => {
      await pg('pg_ctl', [
        '-D',
        primaryDir,
        '-w',
        '-t',
        '120',
        '-m',
        'fast',
        '-l',
        join(dir, 'primary.log'),
        'restart',
      ])
    },
    caughtUp: async () => {
      const lsn = await withClient(
        async (c) => (await c.query('SELECT pg_current_wal_lsn() AS l')).rows[0].l,
        primary,
      )
      const deadline = Date.now() + 120_000
      for (;;) {
        const done = await withClient(
          async (c) => (await c.query('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS d', [lsn])).rows[0].d,
          standby,
        )
        if (done) return
        if (Date.now() > deadline) throw new Error(`standby did not replay up to ${lsn} in 120 s`)
        await new Promise((r) => setTimeout(r, 100))
      }
    },
  }
}
