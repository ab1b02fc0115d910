import * as fs from 'node:fs'
import { hostname, userInfo } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { isPlakarError, SnapshotError } from '../errors.js'
import { readXattrs } from '../platform/xattr.js'
import type { WriteLock } from '../repository/index.js'
import type { Entry, EntryKind } from './entry.js'
import { errnoText, isErrno, isSystemError } from './errno.js'
import { Excludes } from './exclude.js'
import { type CachedFile, type FileCache, stamp } from './file-cache.js'
import { FILE_SOURCE, fileXattrs } from './file-source.js'
import {
  encodeHeader,
  MAX_RECORDED_ERRORS,
  newSnapshotId,
  SNAPSHOT_VERSION,
  type SnapshotCounts,
  type SnapshotErrorRecord,
  type SnapshotHeader,
} from './header.js'
import { Limiter } from './limiter.js'
import { ListingPrefetch, lstatMany } from './metadata.js'
import type { SnapshotBlobWriter, SnapshotRepository } from './repository-view.js'
import { DirWriter, makeContent } from './tree.js'
import { readIdNames } from './users.js'

/**
 * The archiver walks the paths given to push and writes a snapshot end to end: file contents
 * through the repository's BlobWriter, one directory blob per directory (bottom-up), the
 * header (the snapshot object), then the file cache's commit (its rows are trusted once every
 * blob they name is in the index). Memory is bounded by the depth of the tree and the width of one directory (its
 * names), plus a window of files in flight: never by the size of the snapshot.
 * Errors on single files (unreadable, vanished) are recorded and the walk goes on.
 */
export interface ArchiveOptions {
  readonly paths: readonly string[]
  readonly excludes?: readonly string[]
  readonly tags?: readonly string[]
  readonly commandLine?: readonly string[]
  /** The file-metadata cache, or null/undefined to read every file. */
  readonly cache?: FileCache | null
  readonly cpus?: number
  readonly progress?: ArchiveProgress
  /** Called for each error as it happens (the walk goes on). */
  readonly onError?: (path: Buffer, message: string) => void
}

/** Counters the archiver updates as it goes; a progress display reads them. */
export class ArchiveProgress {
  files = 0
  dirs = 0
  bytes = 0
  errors = 0
  /** Files whose content came from the cache without reading. */
  cached = 0
}

/** Files being read or chunked at once; bounds memory and keeps the writer's workers busy. */
const FILES_IN_FLIGHT = 256
/** Entries of one directory waiting for their content before being added to its blob. */
const ENTRIES_IN_FLIGHT = 1024
/**
 * A file changed less than this before it was read is not cached: a change right after the
 * read could keep the same timestamps (they tick coarsely). Filesystems with whole-second
 * timestamps (ctime with no nanoseconds) need whole seconds (FAT ticks by 2).
 */
const RACY_NS = 100_000_000n
const RACY_COARSE_NS = 2_000_000_000n
const ROOT = Buffer.from('/')

interface PathNode {
  full: boolean
  readonly children: Map<string, PathNode>
}

interface FileContent {
  readonly content: Entry['content']
  readonly size: number
  readonly digest: Buffer
  readonly xattrs: [Buffer, Buffer][]
  /** What the file cache keeps of it, when it may be trusted next time. */
  readonly record?: CachedFile
}

/** Takes a file's cache record, for the directory being archived. */
type RecordSink = (name: Buffer, record: CachedFile) => void

export async function archive(repository: SnapshotRepository, opts: ArchiveOptions): Promise<SnapshotHeader> {
  const started = Date.now()
  const tree = resolvePaths(opts.paths)
  // Before any lookup, the file cache's included: the lock's sync brings in a prune's doom
  // lists, and changes the epoch the file cache trusts if there are new ones.
  const lock = await repository.lockForWrite()
  let header: SnapshotHeader
  try {
    header = await archiveLocked(repository, opts, started, tree, lock)
  } catch (err) {
    // The failure that stopped the push is the one to report: the medium that failed it
    // often fails the release too (the lock then goes stale on its own).
    await lock.release().catch(() => {})
    throw err
  }
  await lock.release()
  return header
}

async function archiveLocked(
  repository: SnapshotRepository,
  opts: ArchiveOptions,
  started: number,
  tree: ReturnType<typeof resolvePaths>,
  lock: WriteLock,
): Promise<SnapshotHeader> {
  const writer = repository.writer({
    source: FILE_SOURCE,
    beforeIndex: () => lock.assertHeld(),
    ...(opts.cpus !== undefined ? { cpus: opts.cpus } : {}),
  })
  const a = new Archiver(
    repository,
    counting(writer, (n) => (a.stored += n)),
    opts,
  )
  let root: Entry
  try {
    const st = fs.lstatSync(ROOT, { bigint: true })
    const r = await a.partial(ROOT, Buffer.alloc(0), st, tree.root)
    if (r === null) throw new SnapshotError('SNAPSHOT_SOURCE', 'nothing could be backed up')
    root = r
    await writer.flush()
  } finally {
    await writer.close()
  }
  const user = safeUserName()
  const header: SnapshotHeader = {
    version: SNAPSHOT_VERSION,
    uuid: newSnapshotId(),
    time: new Date(started).toISOString(),
    hostname: hostname(),
    username: user,
    commandLine: opts.commandLine ?? [],
    paths: tree.paths,
    tags: opts.tags ?? [],
    root,
    counts: a.counts,
    size: a.size,
    stored: a.stored,
    durationMs: Date.now() - started,
    errors: a.errors,
    users: a.names(a.uids, '/etc/passwd'),
    groups: a.names(a.gids, '/etc/group'),
  }
  await lock.assertHeld()
  await repository.putSnapshot(header.uuid, encodeHeader(header))
  // Every blob of the snapshot is in the index now: the cache rows written can be trusted.
  opts.cache?.commit()
  return header
}

/** The writer, adding what each tree blob stored to `add` (file data is counted from putFile). */
function counting(w: SnapshotBlobWriter, add: (n: number) => void): SnapshotBlobWriter {
  return {
    putFile: (f) => w.putFile(f),
    putBlob: async (type, data) => {
      const r = await w.putBlob(type, data)
      add(r.packedSize)
      return r
    },
    flush: () => w.flush(),
    close: () => w.close(),
  }
}

function safeUserName(): string {
  try {
    return userInfo().username
  } catch {
    return String(process.getuid?.() ?? '')
  }
}

/** Absolute paths, parents resolved through symlinks, nested ones folded into their ancestor. */
function resolvePaths(paths: readonly string[]): { root: PathNode; paths: string[] } {
  if (paths.length === 0) throw new SnapshotError('SNAPSHOT_SOURCE', 'no path to back up')
  const root: PathNode = { full: false, children: new Map() }
  const out: string[] = []
  for (const p of paths) {
    const abs = resolve(p)
    let full: string
    try {
      full = abs === '/' ? '/' : join(fs.realpathSync(dirname(abs)), basename(abs))
      fs.lstatSync(full)
    } catch (err) {
      throw new SnapshotError('SNAPSHOT_SOURCE', `${p}: ${errnoText(err)}`)
    }
    out.push(full)
    let node = root
    for (const c of full.split('/').filter((s) => s !== '')) {
      if (node.full) break
      let next = node.children.get(c)
      if (next === undefined) {
        next = { full: false, children: new Map() }
        node.children.set(c, next)
      }
      node = next
    }
    node.full = true
    node.children.clear()
  }
  return { root, paths: [...new Set(out)].sort() }
}

class Archiver {
  readonly counts: SnapshotCounts = { files: 0, dirs: 0, symlinks: 0, others: 0, errors: 0 }
  readonly errors: SnapshotErrorRecord[] = []
  readonly uids = new Set<number>()
  readonly gids = new Set<number>()
  size = 0
  stored = 0
  private readonly excludes: Excludes
  private readonly limiter = new Limiter(FILES_IN_FLIGHT)
  private readonly links = new Map<string, Promise<FileContent | null>>()
  private readonly progress: ArchiveProgress
  private readonly listings = new ListingPrefetch()

  constructor(
    private readonly repository: SnapshotRepository,
    private readonly writer: SnapshotBlobWriter,
    private readonly opts: ArchiveOptions,
  ) {
    this.excludes = new Excludes(opts.excludes ?? [])
    this.progress = opts.progress ?? new ArchiveProgress()
  }

  names(ids: Set<number>, file: '/etc/passwd' | '/etc/group'): [number, string][] {
    const all = readIdNames(file)
    return [...ids]
      .sort((x, y) => x - y)
      .flatMap((id) => (all.has(id) ? [[id, all.get(id)!] as [number, string]] : []))
  }

  /** A directory on the way to a pushed path: its metadata, and only the children named. */
  async partial(path: Buffer, name: Buffer, st: fs.BigIntStats, node: PathNode): Promise<Entry | null> {
    if (node.full) return this.entry(path, name, st)
    const dir = new DirWriter(this.writer)
    let size = 0
    let count = 0
    const names = [...node.children.keys()].map((c) => Buffer.from(c)).sort(Buffer.compare)
    // Only some of the directory's files: their records join the directory's others.
    const cached = this.opts.cache?.dir(path)
    const records: [Buffer, CachedFile][] = []
    const sink: RecordSink = (n, r) => records.push([n, r])
    for (const child of names) {
      const childPath = path.length === 1 ? Buffer.concat([ROOT, child]) : Buffer.concat([path, ROOT, child])
      const childSt = fs.lstatSync(childPath, { bigint: true, throwIfNoEntry: false })
      if (childSt === undefined) {
        this.error(childPath, 'no such file or directory')
        continue
      }
      const childNode = node.children.get(child.toString())!
      const e = childSt.isFile()
        ? await this.file(childPath, child, childSt, cached?.files.get(child.toString('latin1')), sink)
        : childNode.full || !childSt.isDirectory()
          ? await this.entry(childPath, child, childSt)
          : await this.partial(childPath, child, childSt, childNode)
      if (e === null) continue
      await dir.add(e)
      size += e.size
      count += 1 + (e.count ?? 0)
    }
    if (cached !== undefined) this.opts.cache?.putDir(path, records, true)
    this.counts.dirs++
    return { ...this.meta(name, 'dir', st), size, tree: await dir.finish(), count }
  }

  /** The entry for one filesystem object, or null when it was excluded or failed (recorded). */
  private async entry(path: Buffer, name: Buffer, st: fs.BigIntStats): Promise<Entry | null> {
    if (st.isDirectory()) return this.directory(path, name, st)
    if (st.isFile()) return this.file(path, name, st, undefined)
    if (st.isSymbolicLink()) {
      let target: Buffer
      try {
        target = fs.readlinkSync(path, { encoding: 'buffer' })
      } catch (err) {
        this.error(path, errnoText(err))
        return null
      }
      this.counts.symlinks++
      return { ...this.meta(name, 'symlink', st), target }
    }
    const kind: EntryKind = st.isFIFO()
      ? 'fifo'
      : st.isCharacterDevice()
        ? 'chardev'
        : st.isBlockDevice()
          ? 'blockdev'
          : 'socket'
    this.counts.others++
    const e: Entry = { ...this.meta(name, kind, st) }
    return kind === 'chardev' || kind === 'blockdev' ? { ...e, rdev: Number(st.rdev) } : e
  }

  private async directory(path: Buffer, name: Buffer, st: fs.BigIntStats): Promise<Entry> {
    return (await this.walkDir(path, name, st)).done
  }

  /**
   * Walk a directory: resolves once every child has been started (subdirectories walked
   * the same way, depth first), with the promise of the directory's entry, which settles
   * once its files are stored and its blob written. The walk thus runs ahead of the
   * writer without waiting at each directory's end, while the files in flight stay bounded.
   */
  private async walkDir(path: Buffer, name: Buffer, st: fs.BigIntStats): Promise<{ done: Promise<Entry> }> {
    let names: Buffer[] = []
    try {
      names = await this.listings.take(path)
    } catch (err) {
      this.error(path, errnoText(err))
    }
    const childPaths: Buffer[] = []
    const childNames: Buffer[] = []
    for (const child of names) {
      const childPath = path.length === 1 ? Buffer.concat([ROOT, child]) : Buffer.concat([path, ROOT, child])
      if (this.excludes.excludes(childPath, child)) continue
      childPaths.push(childPath)
      childNames.push(child)
    }
    names = []
    const stats = await lstatMany(childPaths)
    // Start listing the subdirectories now: their reads overlap this directory's work.
    stats.forEach((s, i) => {
      if (!(s instanceof Error) && s.isDirectory()) this.listings.prefetch(childPaths[i]!)
    })
    const dirRecords = this.opts.cache?.dir(path)
    const cached = dirRecords?.files
    // The chunks of every unchanged file of the directory: known to be in the index when the
    // row is trusted (file-cache.ts), else checked in one batch.
    let verified = dirRecords?.trusted === true
    if (!verified && cached !== undefined && cached.size > 0 && this.repository.hasBlobsSync !== undefined) {
      const ids: Buffer[] = []
      stats.forEach((s, i) => {
        const row =
          s instanceof Error || !s.isFile() ? undefined : cached.get(childNames[i]!.toString('latin1'))
        if (row !== undefined && row.stamp === stamp(s as fs.BigIntStats)) ids.push(...row.chunks)
      })
      verified = ids.length > 0 && this.repository.hasBlobsSync(ids)
    }
    const dir = new DirWriter(this.writer)
    const records: [Buffer, CachedFile][] = []
    const sink: RecordSink = (n, r) => records.push([n, r])
    const pending: Promise<Entry | null>[] = []
    let size = 0
    let count = 0
    const push = (p: Promise<Entry | null>) => {
      // Awaited later, in order; marked handled now so a failure waits for its turn.
      p.catch(() => {})
      pending.push(p)
    }
    const drain = async (keep: number) => {
      while (pending.length > keep) {
        const e = await pending.shift()!
        if (e === null) continue
        await dir.add(e)
        size += e.size
        count += 1 + (e.count ?? 0)
      }
    }
    for (let i = 0; i < childPaths.length; i++) {
      const childPath = childPaths[i]!
      const child = childNames[i]!
      const childSt = stats[i]!
      if (childSt instanceof Error) {
        this.error(childPath, isErrno(childSt, 'ENOENT') ? 'vanished during the backup' : errnoText(childSt))
        continue
      }
      if (childSt.isDirectory()) push((await this.walkDir(childPath, child, childSt)).done)
      else if (childSt.isFile()) {
        await this.limiter.acquire()
        const row = cached?.get(child.toString('latin1'))
        push(this.file(childPath, child, childSt, row, sink, verified).finally(() => this.limiter.release()))
      } else push(this.entry(childPath, child, childSt))
      await drain(ENTRIES_IN_FLIGHT)
    }
    this.counts.dirs++
    this.progress.dirs++
    const meta = this.meta(name, 'dir', st, path)
    const done = (async (): Promise<Entry> => {
      await drain(0)
      // The directory's records as of this backup: files gone, failed or too recent drop out.
      this.opts.cache?.putDir(path, records)
      return { ...meta, size, tree: await dir.finish(), count }
    })()
    done.catch(() => {})
    // Wrapped: an async function returning a promise would wait for it.
    return { done }
  }

  private async file(
    path: Buffer,
    name: Buffer,
    st: fs.BigIntStats,
    cached: CachedFile | undefined,
    sink?: RecordSink,
    verified = false,
  ): Promise<Entry | null> {
    const linked = st.nlink > 1n
    let got: FileContent | null
    if (linked) {
      const key = `${st.dev}:${st.ino}`
      let p = this.links.get(key)
      if (p === undefined) {
        p = this.content(path, st, cached, verified)
        this.links.set(key, p)
      }
      got = await p
    } else got = await this.content(path, st, cached, verified)
    if (got === null) return null
    if (got.record !== undefined) sink?.(name, got.record)
    this.counts.files++
    this.size += got.size
    const e: Entry = {
      ...this.meta(name, 'file', st),
      size: got.size,
      content: got.content,
      digest: got.digest,
      ...(got.xattrs.length > 0 ? { xattrs: got.xattrs } : {}),
    }
    const sparse = st.blocks * 512n < st.size
    return {
      ...e,
      ...(sparse ? { sparse: true } : {}),
      ...(linked ? { link: [Number(st.dev), Number(st.ino)] as const } : {}),
    }
  }

  /**
   * A file's content and attributes: from the cache when its metadata is unchanged (ctime
   * covers attribute changes too) and its chunks are all in the repository, else read.
   */
  private async content(
    path: Buffer,
    st: fs.BigIntStats,
    hit: CachedFile | undefined,
    /** Every chunk of `hit` is known to be in the repository (checked for the directory). */
    verified: boolean,
  ): Promise<FileContent | null> {
    const cache = this.opts.cache
    if (hit !== undefined && hit.stamp === stamp(st) && (verified || (await this.allPresent(hit.chunks)))) {
      this.progress.files++
      this.progress.cached++
      this.progress.bytes += Number(st.size)
      // The record's buffers are views of its directory's whole row: a hard-linked file's
      // content is kept for the whole backup (this.links), so it takes copies of its own.
      const own = st.nlink > 1n ? copyRecord(hit) : hit
      const xattrs: [Buffer, Buffer][] = []
      for (let i = 0; i + 1 < own.xattrs.length; i += 2) xattrs.push([own.xattrs[i]!, own.xattrs[i + 1]!])
      return {
        content: await makeContent(this.writer, own.chunks),
        size: Number(st.size),
        digest: own.digest,
        xattrs,
        record: own,
      }
    }
    const readAt = BigInt(Date.now()) * 1_000_000n
    try {
      // Opened, checked against `st`, read and its attributes listed in a pipeline worker:
      // those calls cost the main thread as much as the walk itself.
      const r = await this.writer.putFile({
        path,
        size: Number(st.size),
        expect: { dev: Number(st.dev), ino: Number(st.ino) },
        xattrs: true,
      })
      const xattrs = fileXattrs(r)
      this.stored += r.stored
      this.progress.files++
      this.progress.bytes += r.size
      const content = await makeContent(this.writer, r.chunks)
      const digest = Buffer.from(r.digest.buffer, r.digest.byteOffset, r.digest.byteLength)
      const racy = st.ctimeNs % 1_000_000_000n === 0n ? RACY_COARSE_NS : RACY_NS
      const record =
        cache && r.size === Number(st.size) && st.ctimeNs < readAt - racy && st.mtimeNs < readAt - racy
          ? {
              stamp: stamp(st),
              digest,
              chunks: r.chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength)),
              xattrs: xattrs.flat(),
            }
          : undefined
      return { content, size: r.size, digest, xattrs, ...(record ? { record } : {}) }
    } catch (err) {
      // The writer reports a file it could not open or read as REPO_SOURCE_UNREADABLE, with
      // the system error as its cause; the backup goes on.
      if (isPlakarError(err, 'REPO_SOURCE_UNREADABLE')) this.error(path, sourceErrorText(err, path))
      else if (isSystemError(err)) this.error(path, errnoText(err))
      else throw err
      return null
    }
  }

  private async allPresent(chunks: readonly Buffer[]): Promise<boolean> {
    const sync = this.repository.hasBlobSync?.bind(this.repository)
    for (const c of chunks) if (!(sync ? sync(c) : await this.repository.hasBlob(c))) return false
    return true
  }

  private meta(name: Buffer, kind: EntryKind, st: fs.BigIntStats, path?: Buffer) {
    const uid = Number(st.uid)
    const gid = Number(st.gid)
    this.uids.add(uid)
    this.gids.add(gid)
    const xattrs = path !== undefined ? readXattrs(path) : undefined
    return {
      name,
      kind,
      mode: Number(st.mode & 0o7777n),
      uid,
      gid,
      mtimeNs: st.mtimeNs,
      size: 0,
      ...(xattrs !== undefined && xattrs.length > 0 ? { xattrs } : {}),
    }
  }

  private error(path: Buffer, message: string): void {
    this.counts.errors++
    this.progress.errors++
    if (this.errors.length < MAX_RECORDED_ERRORS) this.errors.push({ path, message })
    this.opts.onError?.(path, message)
  }
}

function copyRecord(r: CachedFile): CachedFile {
  return {
    stamp: r.stamp,
    digest: Buffer.from(r.digest),
    chunks: r.chunks.map((c) => Buffer.from(c)),
    xattrs: r.xattrs.map((x) => Buffer.from(x)),
  }
}

/** What went wrong reading a file, in the words of the errors list. */
function sourceErrorText(err: Error, path: Buffer): string {
  const cause = err.cause
  if (isErrno(cause, 'ENOENT')) return 'vanished during the backup'
  if (isErrno(cause, 'EREPLACED')) return 'replaced during the backup'
  if (isSystemError(cause)) return errnoText(cause)
  return withoutPath(err.message, path)
}

/** `message` without a leading `<path>: ` (the writer names the file; the caller does too). */
function withoutPath(message: string, path: Buffer): string {
  const prefix = `${path.toString()}: `
  return message.startsWith(prefix) ? message.slice(prefix.length) : message
}
