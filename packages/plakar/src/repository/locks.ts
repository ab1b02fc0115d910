import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { isPlakarError, RepositoryError } from '../errors.js'
import type { Envelope } from '../format/index.js'
import type { ObjectInfo, Store } from '../storage/store.js'

/**
 * Locks and doom lists: how a prune and the pushes beside it agree on what may be deleted
 * (docs/plakar-maintenance.md, "Prune while others push"). All are objects of kind `lock`,
 * sealed by the repository's envelope like every other object, told apart by name:
 *
 * - `push-<hex>`: a writer's shared lock, put before the writer reads the doom lists, held
 *   until its snapshot is committed. A heartbeat re-puts the same bytes every REFRESH_MS,
 *   which moves the object's mtime forward (the Store contract).
 * - `maint-<hex>`: a prune's or repair's exclusive lock. It is put, then the other maint
 *   locks are listed: if a live one is there, the newcomer removes its own and gives up.
 *   Of two racing, at least one sees the other (a listing sees every object put before it
 *   began), so at most one proceeds.
 * - `doom-<hex>`: a prune's list of packs it means to delete. A writer that has read it
 *   deduplicates against none of their blobs (cache.ts).
 *
 * A lock is stale when its holder is known dead (same host, no such pid) or its mtime is
 * older than STALE_MS. A writer refuses to commit once it cannot prove its lock stayed
 * fresh: if a heartbeat ever came later than STALE_MS / 2 after the one before, or the lock
 * object is gone. So a prune that judged a lock stale never races a commit under it,
 * provided the clocks of the hosts sharing a repository agree within STALE_MS / 2.
 */
export const REFRESH_MS = 60_000
export const STALE_MS = 5 * 60_000

export type LockKind = 'push' | 'maint'

export interface LockInfo {
  readonly name: string
  readonly kind: LockKind
  readonly host: string
  readonly pid: number
  /** When the holder took it, by the holder's clock (ms since the epoch). */
  readonly created: number
  /** The object's mtime: the latest heartbeat as the medium recorded it. */
  readonly mtime: number
}

const FORMAT = 1
const LOCK_NAME = /^(push|maint)-[0-9a-f]{32}$/
const DOOM_NAME = /^doom-[0-9a-f]{32}$/

function label(name: string): string {
  return `lock ${name}`
}

/** Lists the locks of `kind`; ones that do not open are skipped (a stranger's junk, or damage). */
export async function listLocks(store: Store, envelope: Envelope, kind?: LockKind): Promise<LockInfo[]> {
  const out: LockInfo[] = []
  for (const info of await listKind(store)) {
    const m = LOCK_NAME.exec(info.name)
    if (!m || (kind && m[1] !== kind)) continue
    const lock = await readLock(store, envelope, info)
    if (lock) out.push(lock)
  }
  return out
}

async function listKind(store: Store): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = []
  for await (const info of store.list('lock')) out.push(info)
  return out
}

async function readLock(store: Store, envelope: Envelope, info: ObjectInfo): Promise<LockInfo | null> {
  let bytes: Uint8Array
  try {
    bytes = await store.get('lock', info.name)
  } catch (err) {
    if (isPlakarError(err, 'STORAGE_NOT_FOUND')) return null // released meanwhile
    throw err
  }
  try {
    const v = JSON.parse(
      Buffer.from(envelope.openObject(label(info.name), bytes, `lock ${info.name}`)).toString(),
    )
    if (v.format !== FORMAT || typeof v.host !== 'string' || !Number.isInteger(v.pid)) return null
    return {
      name: info.name,
      kind: info.name.startsWith('push-') ? 'push' : 'maint',
      host: v.host,
      pid: v.pid,
      created: Number(v.created),
      mtime: info.mtime,
    }
  } catch {
    return null
  }
}

/** True when the holder of `lock` is known dead, or it has not been refreshed for STALE_MS. */
export function isStale(lock: LockInfo, now = Date.now()): boolean {
  if (now - lock.mtime > STALE_MS) return true
  if (lock.host !== hostname() || lock.pid === process.pid) return false
  try {
    process.kill(lock.pid, 0)
    return false
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH'
  }
}

/**
 * A lock held by this process: refreshed in the background until released. `assertHeld()`
 * is what a writer calls right before it commits (see above).
 */
export class Lock {
  private timer: NodeJS.Timeout | null = null
  private lastBeat: number
  private broken: string | null = null
  private released = false

  private constructor(
    private readonly store: Store,
    readonly name: string,
    private readonly bytes: Uint8Array,
  ) {
    this.lastBeat = Date.now()
  }

  static async take(store: Store, envelope: Envelope, kind: LockKind): Promise<Lock> {
    const name = `${kind}-${randomBytes(16).toString('hex')}`
    const body = JSON.stringify({ format: FORMAT, host: hostname(), pid: process.pid, created: Date.now() })
    const bytes = envelope.sealObject(label(name), Buffer.from(body))
    await store.put('lock', name, bytes)
    const lock = new Lock(store, name, bytes)
    lock.timer = setInterval(() => void lock.beat(), REFRESH_MS)
    lock.timer.unref()
    return lock
  }

  private beat(): Promise<void> {
    this.beating ??= this.refresh().finally(() => {
      this.beating = null
    })
    return this.beating
  }

  private beating: Promise<void> | null = null

  private async refresh(): Promise<void> {
    if (this.released) return
    const started = Date.now()
    if (started - this.lastBeat > STALE_MS / 2) this.broken ??= 'its heartbeat stalled'
    try {
      // Gone: a prune took it for stale. Never put it back (its holder must not commit).
      if ((await this.store.stat('lock', this.name)) === undefined) {
        this.broken ??= 'it was removed'
        return
      }
      if (this.released) return
      // A re-put of the same bytes moves mtime forward.
      await this.store.put('lock', this.name, this.bytes)
      this.lastBeat = started
    } catch {
      // One failed refresh is no reason to fail a long backup: lastBeat stays behind, and the
      // gap check above breaks the lock only once refreshes have failed for STALE_MS / 2.
    }
  }

  /** Throws REPO_LOCKED when the lock may have been judged stale by someone else. */
  async assertHeld(): Promise<void> {
    if (Date.now() - this.lastBeat > STALE_MS / 2) this.broken ??= 'its heartbeat stalled'
    if (this.broken === null && (await this.store.stat('lock', this.name)) === undefined)
      this.broken = 'it was removed'
    if (this.broken !== null)
      throw new RepositoryError(
        'REPO_LOCKED',
        `lock ${this.name} may have been taken for stale (${this.broken}): nothing was committed`,
      )
  }

  async release(): Promise<void> {
    if (this.released) return
    this.released = true
    if (this.timer) clearInterval(this.timer)
    // A refresh in flight could land after the delete and leave the lock behind.
    await this.beating?.catch(() => {})
    await this.store.delete('lock', this.name)
  }
}

/**
 * Takes the repository's exclusive maintenance lock, or fails with REPO_LOCKED naming the
 * holder. Stale maint locks found on the way are removed.
 */
export async function takeExclusive(store: Store, envelope: Envelope): Promise<Lock> {
  const lock = await Lock.take(store, envelope, 'maint')
  try {
    for (const other of await listLocks(store, envelope, 'maint')) {
      if (other.name === lock.name) continue
      if (isStale(other)) {
        await store.delete('lock', other.name)
        continue
      }
      throw new RepositoryError(
        'REPO_LOCKED',
        `the repository is locked by another prune or repair (pid ${other.pid} on ${other.host}, since ${new Date(other.created).toISOString()})`,
      )
    }
  } catch (err) {
    await lock.release().catch(() => {})
    throw err
  }
  return lock
}

// ---- doom lists ----

export interface Doom {
  readonly name: string
  readonly packs: readonly string[]
}

function doomLabel(name: string): string {
  return `doom ${name}`
}

export async function writeDoom(store: Store, envelope: Envelope, packs: readonly string[]): Promise<string> {
  const name = `doom-${randomBytes(16).toString('hex')}`
  const body = JSON.stringify({ format: FORMAT, created: Date.now(), packs })
  await store.put('lock', name, envelope.sealObject(doomLabel(name), Buffer.from(body)))
  return name
}

/** The names of the doom lists in the repository. */
export async function listDoomNames(store: Store): Promise<string[]> {
  return (await listKind(store)).filter((i) => DOOM_NAME.test(i.name)).map((i) => i.name)
}

/** A doom list's packs; null when it is gone. One that does not open is damage (REPO_CORRUPT). */
export async function readDoom(store: Store, envelope: Envelope, name: string): Promise<Doom | null> {
  let bytes: Uint8Array
  try {
    bytes = await store.get('lock', name)
  } catch (err) {
    if (isPlakarError(err, 'STORAGE_NOT_FOUND')) return null
    throw err
  }
  const plain = envelope.openObject(doomLabel(name), bytes, `doom list ${name}`)
  let v: { format?: unknown; packs?: unknown }
  try {
    v = JSON.parse(Buffer.from(plain).toString())
  } catch {
    throw new RepositoryError('REPO_CORRUPT', `doom list ${name} does not decode`)
  }
  if (v.format !== FORMAT || !Array.isArray(v.packs) || !v.packs.every((p) => typeof p === 'string'))
    throw new RepositoryError('REPO_UNSUPPORTED', `doom list ${name}: unknown format`)
  return { name, packs: v.packs as string[] }
}
