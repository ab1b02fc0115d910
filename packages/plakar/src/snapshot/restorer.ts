import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import { isPlakarError, SnapshotError } from '../errors.js'
import { type Entry, isSafeName } from './entry.js'
import { errnoText, isErrno, isSystemError } from './errno.js'
import { Limiter, settle } from './limiter.js'
import type { SnapshotRepository } from './repository-view.js'
import type { TreeReader } from './tree.js'
import { writeXattrs } from './xattr.js'

/**
 * The restorer writes entries of a snapshot below a target directory, safely whatever the
 * snapshot holds:
 * - every name is checked (one component: no `/`, NUL, `.` or `..`; never absolute), and
 *   names within a directory are strictly increasing (TreeReader), so no entry repeats;
 * - a file is written to a fresh temporary name (O_CREAT|O_EXCL|O_NOFOLLOW) and renamed
 *   into place once complete, so it appears whole or not at all, and rename replaces
 *   whatever was there instead of writing through it;
 * - symlinks are created last, after every file and directory, so nothing is ever written
 *   through a symlink the restore created; a symlink found where a directory must go is
 *   replaced by the directory;
 * - metadata (owner when root, mode, xattrs, mtime) is applied after content, and a
 *   directory's after everything inside it.
 * Failures on single entries are recorded and the restore goes on.
 */
export interface RestoreOptions {
  /** Restore owners (lchown); default: when running as root. */
  readonly owners?: boolean
  readonly progress?: RestoreProgress
  readonly onError?: (path: Buffer, message: string) => void
}

export class RestoreProgress {
  files = 0
  bytes = 0
  errors = 0
}

/** Chunks fetched ahead of the one being written. */
const READ_AHEAD = 8
/** Files restored at once: small files are bound by the latency of each blob read. */
const FILES_IN_FLIGHT = 32
/** Sparse files: zero blocks of this size (aligned in the file) are left as holes. */
const HOLE_BLOCK = 64 * 1024
const SLASH = Buffer.from('/')

interface Deferred {
  readonly dir: Buffer
  readonly entry: Entry | null
  readonly symlinks: Entry[]
}

export class Restorer {
  private readonly owners: boolean
  private readonly progress: RestoreProgress
  /** Hard-link groups: the path of the first name restored (undefined if it failed). */
  private readonly links = new Map<string, Promise<Buffer | undefined>>()
  private readonly slots = new Limiter(FILES_IN_FLIGHT)
  private readonly deferred: Deferred[] = []
  private zeros = Buffer.alloc(0)
  private staging: string | null = null
  private readonly tag = randomBytes(4).toString('hex')
  private serial = 0
  errors = 0

  constructor(
    private readonly repository: SnapshotRepository,
    private readonly reader: TreeReader,
    private readonly target: string,
    private readonly opts: RestoreOptions = {},
  ) {
    this.owners = opts.owners ?? process.getuid?.() === 0
    this.progress = opts.progress ?? new RestoreProgress()
    try {
      fs.mkdirSync(target, { recursive: true })
    } catch (err) {
      throw new SnapshotError('SNAPSHOT_TARGET', `${target}: ${errnoText(err)}`)
    }
    if (!fs.statSync(target).isDirectory())
      throw new SnapshotError('SNAPSHOT_TARGET', `${target}: not a directory`)
  }

  /**
   * Restore `entry` at target/`components` (each a name checked like any other), creating
   * the directories in `parents` (entries of the same length minus one) on the way.
   */
  async restore(parents: readonly Entry[], entry: Entry): Promise<void> {
    let dir: Buffer = Buffer.from(this.target)
    const made: Deferred[] = []
    for (const p of parents) {
      if (!isSafeName(p.name)) throw unsafe(p.name)
      dir = join(dir, p.name)
      this.ensureDir(dir)
      made.unshift({ dir, entry: p, symlinks: [] })
    }
    if (entry.name.length === 0 && entry.kind === 'dir') {
      // The snapshot's root: its children go straight into the target, which keeps its own metadata.
      await this.children(entry, dir)
    } else {
      if (!isSafeName(entry.name)) throw unsafe(entry.name)
      const symlinks: Entry[] = []
      const pending: Promise<void>[] = []
      await this.one(entry, dir, symlinks, pending)
      await settle(pending)
      if (symlinks.length > 0) this.deferred.push({ dir, entry: null, symlinks })
    }
    // The directories leading to the entry get their metadata after it, deepest first.
    this.deferred.push(...made)
  }

  /** Create the symlinks, then apply directories' metadata, deepest first. Call once at the end. */
  async finish(): Promise<void> {
    for (const d of this.deferred) {
      for (const s of d.symlinks) this.guard(join(d.dir, s.name), () => this.symlink(s, d.dir))
      if (d.entry !== null) this.guard(d.dir, () => this.meta(d.dir, d.entry!))
    }
    this.deferred.length = 0
    if (this.staging !== null) fs.rmSync(this.staging, { recursive: true, force: true })
  }

  /** Restore one entry; a file is started and added to `pending` (the caller settles it). */
  private async one(e: Entry, dir: Buffer, symlinks: Entry[], pending: Promise<void>[]): Promise<void> {
    const path = join(dir, e.name)
    switch (e.kind) {
      case 'dir':
        if (!this.guard(path, () => this.ensureDir(path))) return
        await this.children(e, path)
        return
      case 'file': {
        await this.slots.acquire()
        const p = this.guardAsync(path, () => this.file(e, dir, path)).finally(() => this.slots.release())
        p.catch(() => {})
        pending.push(p)
        return
      }
      case 'symlink':
        symlinks.push(e)
        return
      case 'socket':
        // A socket is made by the program that listens on it; there is nothing to restore.
        return
      default:
        this.guard(path, () => this.special(e, path))
    }
  }

  private async children(e: Entry, path: Buffer): Promise<void> {
    const symlinks: Entry[] = []
    const pending: Promise<void>[] = []
    for await (const child of this.reader.list(e.tree!)) {
      if (!isSafeName(child.name)) {
        this.fail(join(path, Buffer.from('?')), unsafe(child.name).message)
        continue
      }
      await this.one(child, path, symlinks, pending)
    }
    // The directory's files are complete before its metadata is set.
    await settle(pending)
    if (symlinks.length > 0 || e.name.length === 0)
      this.deferred.push({ dir: path, entry: e.name.length ? e : null, symlinks })
    else this.guard(path, () => this.meta(path, e))
  }

  /** A real directory at `path`: kept if one is there, otherwise whatever is there is replaced. */
  private ensureDir(path: Buffer): void {
    try {
      fs.mkdirSync(path, 0o700)
      return
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err
    }
    const st = fs.lstatSync(path)
    if (st.isDirectory()) return
    fs.unlinkSync(path)
    fs.mkdirSync(path, 0o700)
  }

  private async file(e: Entry, dir: Buffer, path: Buffer): Promise<void> {
    const key = e.link !== undefined ? e.link.join(':') : undefined
    const earlier = key !== undefined ? this.links.get(key) : undefined
    let restored: (p: Buffer | undefined) => void = () => {}
    if (earlier !== undefined) {
      const first = await earlier
      if (first !== undefined) {
        const tmp = this.tempName(dir)
        fs.linkSync(first, tmp)
        fs.renameSync(tmp, path)
        return
      }
    } else if (key !== undefined) {
      // Registered before any await, so a later name of the same inode waits for this one.
      this.links.set(key, new Promise((r) => (restored = r)))
    }
    try {
      await this.content(e, dir, path)
      restored(path)
    } catch (err) {
      restored(undefined)
      throw err
    }
  }

  private async content(e: Entry, dir: Buffer, path: Buffer): Promise<void> {
    const tmp = this.tempName(dir)
    const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants
    const fd = fs.openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
    let done = false
    try {
      let pos = 0
      const ahead: Promise<Uint8Array>[] = []
      const ids = this.reader.chunks(e.content!)
      let more = true
      const fill = async () => {
        while (more && ahead.length < READ_AHEAD) {
          const n = await ids.next()
          if (n.done) more = false
          else {
            const p = this.repository.getBlob(n.value)
            p.catch(() => {})
            ahead.push(p)
          }
        }
      }
      await fill()
      while (ahead.length > 0) {
        const data = await ahead.shift()!
        await fill()
        if (e.sparse) this.writeSparse(fd, data, pos)
        else fs.writeSync(fd, data, 0, data.length, pos)
        pos += data.length
        this.progress.bytes += data.length
      }
      if (pos !== e.size)
        throw new SnapshotError('SNAPSHOT_CORRUPT', `chunks hold ${pos} bytes, the entry says ${e.size}`)
      fs.ftruncateSync(fd, pos)
      if (this.owners) fs.fchownSync(fd, e.uid, e.gid)
      fs.fchmodSync(fd, e.mode)
      this.xattrs(tmp, e)
      const t = seconds(e.mtimeNs)
      fs.futimesSync(fd, t, t)
      done = true
    } finally {
      fs.closeSync(fd)
      if (!done) fs.rmSync(tmp, { force: true })
    }
    fs.renameSync(tmp, path)
    this.progress.files++
  }

  private symlink(e: Entry, dir: Buffer): void {
    const tmp = this.tempName(dir)
    fs.symlinkSync(e.target!, tmp)
    if (this.owners) fs.lchownSync(tmp, e.uid, e.gid)
    const t = seconds(e.mtimeNs)
    fs.lutimesSync(tmp, t, t)
    fs.renameSync(tmp, join(dir, e.name))
  }

  /** FIFOs and device nodes: Node cannot make them, mkfifo(1) and mknod(1) can. */
  private special(e: Entry, path: Buffer): void {
    if ((e.kind === 'chardev' || e.kind === 'blockdev') && process.getuid?.() !== 0) {
      throw new Error('device node not restored: not running as root')
    }
    // Made under an ASCII name in a staging directory (the tools take string paths), then renamed.
    if (this.staging === null) this.staging = fs.mkdtempSync(`${this.target}/.plakar-staging-`)
    const tmp = `${this.staging}/${randomBytes(8).toString('hex')}`
    const rdev = e.rdev ?? 0
    const args =
      e.kind === 'fifo'
        ? ['mkfifo', '-m', '600', tmp]
        : [
            'mknod',
            '-m',
            '600',
            tmp,
            e.kind === 'chardev' ? 'c' : 'b',
            String(major(rdev)),
            String(minor(rdev)),
          ]
    const r = spawnSync(args[0]!, args.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] })
    if (r.status !== 0)
      throw new Error(`${args[0]} failed: ${r.stderr?.toString().trim() || r.error?.message}`)
    fs.renameSync(tmp, path)
    this.meta(path, e)
  }

  private meta(path: Buffer, e: Entry): void {
    if (this.owners) fs.lchownSync(path, e.uid, e.gid)
    fs.chmodSync(path, e.mode)
    this.xattrs(path, e)
    const t = seconds(e.mtimeNs)
    fs.lutimesSync(path, t, t)
  }

  private xattrs(path: Buffer, e: Entry): void {
    if (e.xattrs === undefined) return
    const failed = writeXattrs(path, e.xattrs)
    if (failed.length > 0) this.fail(path, `extended attributes not restored: ${failed.join(', ')}`)
  }

  /**
   * Write `data` at `pos`, skipping the all-zero blocks (aligned on HOLE_BLOCK in the file),
   * which stay holes: ftruncate at the end gives the file its size.
   */
  private writeSparse(fd: number, data: Uint8Array, pos: number): void {
    let start = 0
    while (start < data.length) {
      const end = Math.min(data.length, start + HOLE_BLOCK - ((pos + start) % HOLE_BLOCK))
      const block = data.subarray(start, end)
      if (!this.isZero(block)) fs.writeSync(fd, block, 0, block.length, pos + start)
      start = end
    }
  }

  private isZero(data: Uint8Array): boolean {
    if (this.zeros.length < data.length) this.zeros = Buffer.alloc(data.length)
    return Buffer.compare(data, this.zeros.subarray(0, data.length)) === 0
  }

  /**
   * A fresh temporary name: a per-restore random tag and a counter (cheaper than random bytes
   * per file). Files are created with O_EXCL, so a name already there fails instead of being
   * reused.
   */
  private tempName(dir: Buffer): Buffer {
    return join(dir, Buffer.from(`.plakar-${this.tag}-${(this.serial++).toString(36)}.tmp`))
  }

  private guard(path: Buffer, f: () => void): boolean {
    try {
      f()
      return true
    } catch (err) {
      this.caught(path, err)
      return false
    }
  }

  private async guardAsync(path: Buffer, f: () => Promise<void>): Promise<void> {
    try {
      await f()
    } catch (err) {
      this.caught(path, err)
    }
  }

  private caught(path: Buffer, err: unknown): void {
    if (isPlakarError(err)) this.fail(path, err.message)
    else if (isSystemError(err)) this.fail(path, errnoText(err))
    else if (err instanceof Error && !(err instanceof TypeError) && !(err instanceof RangeError))
      this.fail(path, err.message)
    else throw err
  }

  private fail(path: Buffer, message: string): void {
    this.errors++
    this.progress.errors++
    this.opts.onError?.(path, message)
  }
}

function unsafe(name: Buffer): SnapshotError {
  return new SnapshotError(
    'SNAPSHOT_UNSAFE',
    `refusing unsafe name ${JSON.stringify(name.toString('latin1'))} in snapshot`,
  )
}

function join(dir: Buffer, name: Buffer): Buffer {
  return Buffer.concat([dir, SLASH, name])
}

function seconds(ns: bigint): number {
  return Number(ns / 1000n) / 1e6
}

/** Linux's encoding of st_rdev (glibc gnu_dev_major / gnu_dev_minor), for numbers below 2^53. */
function major(rdev: number): number {
  return ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff)
}
function minor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >>> 12) & ~0xff & 0xfffff)
}
