import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import { availableParallelism } from 'node:os'
import { isPlakarError, SnapshotError } from '../errors.js'
import { writeXattrs } from '../platform/xattr.js'
import { type Entry, isSafeName } from './entry.js'
import { errnoText, failureText, isErrno } from './errno.js'
import type { RestoreRepository } from './repository-view.js'
import { type RestoreJob, RestorePool } from './restore-pool.js'
import type { TreeReader } from './tree.js'

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
 *   directory's after everything inside it;
 * - hard links are restored as links: the first name with the content, the later ones linked
 *   to it once it is in place.
 * The main thread walks the tree, checks names, creates directories, special files and
 * links; file contents go to worker threads in batches (restore-pool.ts), which verify every
 * blob and write each file under its temporary name, then rename it.
 * Failures on single entries are recorded and the restore goes on.
 */
export interface RestoreOptions {
  /** Restore owners (lchown); default: when running as root. */
  readonly owners?: boolean
  readonly progress?: RestoreProgress
  readonly onError?: (path: Buffer, message: string) => void
  /** Worker threads that open blobs and write files; default: one per core. */
  readonly workers?: number
}

export class RestoreProgress {
  files = 0
  bytes = 0
  errors = 0
}

const SLASH = Buffer.from('/')
/**
 * The restore workers' v8 nursery (MiB): they allocate only short-lived buffers (the blobs of
 * a batch and their contents), and a small young generation keeps their memory down.
 */
const WORKER_YOUNG_GENERATION_MB = 4
/** Restoring a tree of this many entries or more starts with RestoreRepository.warmIndex. */
const WARM_ENTRIES = 1024

/**
 * A directory being restored. Its metadata waits until everything in it is done: its listing
 * (one pending count while it lasts), its subdirectories, and its files, which complete on
 * the workers in any order. Then it is applied at once, or, when symlinks go in the directory
 * (created last of all) or the directory has no entry of its own, deferred to finish().
 */
interface Dir {
  readonly path: Buffer
  /** null: the target itself, or the directory holding the single entry restore() was given. */
  readonly entry: Entry | null
  readonly parent: Dir | null
  pending: number
  readonly symlinks: Entry[]
}

interface Deferred {
  readonly path: Buffer
  readonly entry: Entry | null
  readonly symlinks: readonly Entry[]
}

/** A name of a file to restore, in its directory. */
interface Name {
  readonly entry: Entry
  readonly dir: Dir
  readonly path: Buffer
}

interface FileJob extends RestoreJob, Name {
  /** The hard-link group whose first name this is. */
  readonly group: LinkGroup | null
}

/**
 * The names of one inode (hard links): the first is restored with its content, the others
 * are linked to it once it is in place; if it fails, each restores its own content.
 */
interface LinkGroup {
  readonly first: Buffer
  state: 'pending' | 'done' | 'failed'
  readonly waiting: Name[]
}

export class Restorer {
  private readonly owners: boolean
  private readonly progress: RestoreProgress
  private readonly links = new Map<string, LinkGroup>()
  private readonly pool: RestorePool
  private readonly deferred: Deferred[] = []
  private staging: string | null = null
  private readonly tag = randomBytes(4).toString('hex')
  private serial = 0
  errors = 0

  constructor(
    private readonly repository: RestoreRepository,
    reader: TreeReader,
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
    this.reader = reader
    this.pool = new RestorePool(
      repository,
      reader,
      {
        done: (job, error) => this.fileDone(job as FileJob, error),
        warn: (job, message) => this.fail(job.path, message),
        bytes: (n) => {
          this.progress.bytes += n
        },
      },
      {
        workers: opts.workers ?? availableParallelism(),
        owners: this.owners,
        youngGenerationMb: WORKER_YOUNG_GENERATION_MB,
      },
    )
  }

  private readonly reader: TreeReader

  /**
   * Restore `entry` at target/`components` (each a name checked like any other), creating
   * the directories in `parents` (entries of the same length minus one) on the way. Resolves
   * once everything below it is in place (its symlinks and some directories' metadata wait
   * for finish()).
   */
  async restore(parents: readonly Entry[], entry: Entry): Promise<void> {
    let path: Buffer = Buffer.from(this.target)
    const made: Deferred[] = []
    for (const p of parents) {
      if (!isSafeName(p.name)) throw unsafe(p.name)
      path = join(path, p.name)
      this.ensureDir(path)
      made.unshift({ path, entry: p, symlinks: [] })
    }
    // Every file below looks its chunks up in the index: on a cold cache, reading the index
    // file in order first is much faster than the lookups faulting it in a page at a time.
    if (entry.kind === 'dir' && (entry.count ?? 0) >= WARM_ENTRIES) this.repository.warmIndex()
    if (entry.kind === 'file' || (entry.kind === 'dir' && (entry.count ?? 1) > 0)) this.pool.prepare()
    const holder: Dir = { path, entry: null, parent: null, pending: 1, symlinks: [] }
    try {
      if (entry.name.length === 0 && entry.kind === 'dir') {
        // The snapshot's root: its children go straight into the target, which keeps its own metadata.
        await this.children(entry, holder)
      } else {
        if (!isSafeName(entry.name)) throw unsafe(entry.name)
        await this.one(entry, holder)
      }
      this.release(holder)
      await this.pool.drain()
    } catch (err) {
      // Files already handed out are finished (none is left half written under a temp name).
      await this.pool.drain().catch(() => {})
      await this.pool.close()
      throw err
    }
    // The directories leading to the entry get their metadata after it, deepest first.
    this.deferred.push(...made)
  }

  /** Create the symlinks, then apply directories' metadata, deepest first. Call once at the end. */
  async finish(): Promise<void> {
    try {
      await this.pool.drain()
    } finally {
      await this.pool.close()
    }
    for (const d of this.deferred) {
      for (const s of d.symlinks) this.guard(join(d.path, s.name), () => this.symlink(s, d.path))
      if (d.entry !== null) this.guard(d.path, () => this.meta(d.path, d.entry!))
    }
    this.deferred.length = 0
    if (this.staging !== null) fs.rmSync(this.staging, { recursive: true, force: true })
  }

  /**
   * Restore one entry of directory `dir`; a file goes to the pool and completes later. Returns
   * a promise only when the caller must wait (a directory's walk, the pool full): a promise
   * per file would cost the walk more than the file does.
   */
  private one(e: Entry, dir: Dir): Promise<void> | undefined {
    const path = join(dir.path, e.name)
    switch (e.kind) {
      case 'dir': {
        if (!this.guard(path, () => this.ensureDir(path))) return
        const d: Dir = { path, entry: e, parent: dir, pending: 1, symlinks: [] }
        dir.pending++
        return this.children(e, d).then(() => this.release(d))
      }
      case 'file':
        dir.pending++
        return this.file({ entry: e, dir, path })
      case 'symlink':
        dir.symlinks.push(e)
        return
      case 'socket':
        // A socket is made by the program that listens on it; there is nothing to restore.
        return
      default:
        this.guard(path, () => this.special(e, path))
    }
  }

  private async children(e: Entry, d: Dir): Promise<void> {
    try {
      for await (const child of this.reader.list(e.tree!, { readAhead: true })) {
        if (!isSafeName(child.name)) {
          this.fail(join(d.path, Buffer.from('?')), unsafe(child.name).message)
          continue
        }
        const wait = this.one(child, d)
        if (wait !== undefined) await wait
      }
    } catch (err) {
      // A directory blob lost or damaged loses what it lists, not the rest of the snapshot:
      // reported like a file that failed (exit status 3), and the restore goes on.
      if (!LOST.some((code) => isPlakarError(err, code))) throw err
      this.fail(d.path, `${(err as Error).message} (what this directory holds is not restored)`)
    }
  }

  /** One thing in `d` is done; when the last is, the directory's metadata is applied. */
  private release(d: Dir): void {
    if (--d.pending > 0) return
    if (d.symlinks.length > 0) this.deferred.push(d)
    else if (d.entry !== null) this.guard(d.path, () => this.meta(d.path, d.entry!))
    if (d.parent !== null) this.release(d.parent)
  }

  private file(name: Name): Promise<void> | undefined {
    const e = name.entry
    let group: LinkGroup | null = null
    if (e.link !== undefined) {
      const key = e.link.join(':')
      const earlier = this.links.get(key)
      if (earlier === undefined) {
        group = { first: name.path, state: 'pending', waiting: [] }
        this.links.set(key, group)
      } else if (earlier.state === 'pending') {
        earlier.waiting.push(name)
        return
      } else if (earlier.state === 'done') {
        this.link(earlier.first, name)
        return
      }
      // The first name failed: this one restores its own content.
    }
    const job: FileJob = { ...name, tmp: this.tempName(name.dir.path), group }
    return this.pool.add(job)
  }

  private fileDone(job: FileJob, error: string | null): void {
    if (error === null) this.progress.files++
    else this.fail(job.path, error)
    const group = job.group
    if (group !== null) {
      group.state = error === null ? 'done' : 'failed'
      for (const name of group.waiting.splice(0)) {
        if (error === null) this.link(group.first, name)
        else {
          const alone: FileJob = { ...name, tmp: this.tempName(name.dir.path), group: null }
          this.pool.add(alone)
        }
      }
    }
    this.release(job.dir)
  }

  /** A later name of a hard-linked file: linked under a temp name, renamed into place. */
  private link(first: Buffer, name: Name): void {
    this.guard(name.path, () => {
      const tmp = this.tempName(name.dir.path)
      fs.linkSync(first, tmp)
      try {
        fs.renameSync(tmp, name.path)
      } catch (err) {
        fs.rmSync(tmp, { force: true })
        throw err
      }
    })
    this.release(name.dir)
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

  private caught(path: Buffer, err: unknown): void {
    const text = failureText(err)
    if (text === undefined) throw err
    this.fail(path, text)
  }

  private fail(path: Buffer, message: string): void {
    this.errors++
    this.progress.errors++
    this.opts.onError?.(path, message)
  }
}

/**
 * What reading a directory blob fails with when the repository lost or damaged it. A blob
 * that opens but does not decode (SNAPSHOT_CORRUPT: crafted, or a bug) still stops the restore.
 */
const LOST = ['REPO_CORRUPT', 'REPO_BLOB_NOT_FOUND'] as const

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
