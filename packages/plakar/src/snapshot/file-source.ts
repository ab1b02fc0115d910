/**
 * The archiver's files as sources of the repository's write path (repository/source.ts):
 * opened here, checked to be the file the walk saw, read, and their extended attributes
 * listed, on the writer's pipeline workers (archive-worker.ts serves this reader there) and,
 * for the batches it seals itself, on the main thread. The repository gets bytes only.
 */
import { closeSync, constants, open as fsOpen, read as fsRead, fstatSync, openSync, readSync } from 'node:fs'
import { readXattrs } from '../platform/xattr.js'
import type { FileResult, Source, SourceReader, SourceSpec, SourceTask } from '../repository/index.js'

/**
 * A file for the writer to read, from offset 0 to end of file (so a file that changes while
 * read is stored as read; the result's `size` says how much). With `fd` it is read through
 * the caller's open descriptor with explicit positions (its file offset is not used) and
 * never closed: the caller closes it once putFile has settled. Without `fd`, `path` is opened
 * (string, or bytes for names that are not UTF-8). `size` is the caller's lstat size, a hint
 * used to batch small files and to read them ahead whole; it is not trusted.
 */
export interface ReadableFile {
  readonly fd?: number
  readonly path: string | Uint8Array
  readonly size?: number
  /**
   * Without `fd`: the device and inode the caller saw (lstat). The file is opened without
   * following a symlink and rejected (REPO_SOURCE_UNREADABLE, cause code EREPLACED) when it
   * is not that regular file any more.
   */
  readonly expect?: { readonly dev: number; readonly ino: number }
  /** Also read the file's extended attributes (fileXattrs of the result). */
  readonly xattrs?: boolean
}

/** The attributes a file's putFile read, [name, value] by name (none when not asked). */
export function fileXattrs(result: FileResult): [Buffer, Buffer][] {
  const meta = result.meta as readonly [Uint8Array, Uint8Array][] | undefined
  if (meta === undefined) return []
  return meta.map(([n, v]) => [
    Buffer.from(n.buffer, n.byteOffset, n.byteLength),
    Buffer.from(v.buffer, v.byteOffset, v.byteLength),
  ])
}

/**
 * Reads wait on the disk only on a cold page cache. Synchronous reads are the cheapest once
 * data is cached (reading ahead on libuv's pool costs a thread hand-off per open, read and
 * close: ~4 ms of CPU per MB of small files here, more than hashing and encryption together),
 * so small files are read synchronously until reads are slow (SLOW_OF_LAST of the last 8:
 * on a busy machine a cached read is now and then slow because the thread was preempted);
 * then the next READ_AHEAD_SPELL small files are read ahead on the pool, several at once,
 * and the reader tries synchronous reads again. A warm backup pays no hand-offs; a cold one
 * waits on a few reads per spell.
 */
const READ_AHEAD_SPELL = 256
const SLOW_OF_LAST = 3
const PREFETCH_FILES = 16
const PREFETCH_BYTES = 4 << 20
const SMALL = 1 << 20

/**
 * A cached open+read costs ~10 µs plus a copy at several GB/s; one of an SSD's cold reads
 * takes 100 µs or more.
 */
function slowRead(ms: number, bytes: number): boolean {
  return ms > 0.05 + bytes / 1_000_000
}

function popcount(bits: number): number {
  let n = 0
  for (let b = bits; b !== 0; b &= b - 1) n++
  return n
}

function pathOf(file: ReadableFile): string | Buffer {
  return typeof file.path === 'string' ? file.path : Buffer.from(file.path)
}

function hint(file: ReadableFile): number | undefined {
  const s = file.size
  return s !== undefined && Number.isSafeInteger(s) && s >= 0 ? s : undefined
}

// O_NOFOLLOW: a file replaced by a symlink since the caller's lstat is not followed;
// O_NONBLOCK: one replaced by a FIFO does not block the open.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK

/** A file the caller saw as another (replaced between its lstat and our open). */
class Replaced extends Error {
  readonly code = 'EREPLACED'
  constructor() {
    super('replaced during the backup')
  }
}

/** `fd`, checked to be the regular file the caller saw (closed and Replaced thrown if not). */
function checked(file: ReadableFile, fd: number): number {
  const st = fstatSync(fd)
  const e = file.expect
  if (!st.isFile() || (e !== undefined && (st.dev !== e.dev || st.ino !== e.ino))) {
    closeSync(fd)
    throw new Replaced()
  }
  return fd
}

/** ELOOP from O_NOFOLLOW: the file became a symlink. */
function openError(err: NodeJS.ErrnoException): Error {
  return err.code === 'ELOOP' ? new Replaced() : err
}

/** Its attributes when asked for (listed by path: the package takes no fd), else undefined. */
function attributes(file: ReadableFile): [Buffer, Buffer][] | undefined {
  if (!file.xattrs) return undefined
  const x = readXattrs(Buffer.from(pathOf(file)))
  return x.length > 0 ? x : undefined
}

/** A file streamed with synchronous positioned reads, timed for the reader's choice. */
class FileStream implements Source {
  readonly whole = null
  private position = 0
  constructor(
    private readonly fd: number,
    private readonly own: boolean,
    private readonly file: ReadableFile,
    /** Called at close with the milliseconds spent in open and read calls; null: untimed. */
    private readonly timed: ((ms: number) => void) | null,
    private waitMs = 0,
  ) {}

  read(buf: Uint8Array, offset: number, length: number): number {
    const t = performance.now()
    const n = readSync(this.fd, buf, offset, length, this.position)
    this.waitMs += performance.now() - t
    this.position += n
    return n
  }

  close(ok: boolean): unknown {
    if (this.own) closeSync(this.fd)
    this.timed?.(this.waitMs)
    return ok ? attributes(this.file) : undefined
  }
}

/** A small file read whole ahead of time; it ended where its size hint said. */
class WholeFile implements Source {
  constructor(
    readonly whole: Uint8Array,
    private readonly fd: number,
    private readonly own: boolean,
    private readonly file: ReadableFile,
  ) {}

  read(): number {
    return 0
  }

  close(ok: boolean): unknown {
    if (this.own) closeSync(this.fd)
    return ok ? attributes(this.file) : undefined
  }
}

/**
 * A small file read ahead, whole, on libuv's pool while earlier files are being sealed: on a
 * cold page cache this keeps several reads in flight instead of one. `data` holds the file
 * when it ended where its size hint said; otherwise (it grew) the rest is streamed.
 */
interface Prefetched {
  readonly fd: number
  readonly own: boolean
  readonly data: Buffer
  /** true when the read reached end of file */
  readonly complete: boolean
}

function prefetch(file: ReadableFile, size: number): Promise<Prefetched> {
  return new Promise((resolve, reject) => {
    const read = (fd: number, own: boolean) => {
      // One byte more than expected tells a file that grew from one that ended.
      const data = Buffer.allocUnsafe(size + 1)
      fsRead(fd, data, 0, size + 1, 0, (err, n) => {
        if (err) {
          if (own) closeSync(fd)
          reject(err)
        } else resolve({ fd, own, data: data.subarray(0, n), complete: n <= size })
      })
    }
    if (file.fd !== undefined) read(file.fd, false)
    else
      fsOpen(pathOf(file), OPEN_FLAGS, (err, fd) => {
        if (err) return reject(openError(err))
        try {
          read(checked(file, fd), true)
        } catch (e) {
          reject(e)
        }
      })
  })
}

/** The file reader: one per thread that seals (its read-ahead choice spans tasks). */
export class FileReader implements SourceReader<ReadableFile> {
  private readAheadLeft = 0
  /** One bit per recent synchronous read of a small file, 1 = slow, newest lowest. */
  private slowReads = 0

  constructor(
    /** Test seam: take the cold-cache path (read ahead) for every small file. */
    private readonly alwaysReadAhead = process.env.PLAKAR_READ_AHEAD === 'always',
  ) {}

  name(file: ReadableFile): string {
    return pathOf(file).toString()
  }

  size(file: ReadableFile): number | undefined {
    return hint(file)
  }

  task(files: readonly ReadableFile[]): SourceTask {
    const ahead: (Promise<Prefetched> | null)[] = files.map(() => null)
    const small = (f: ReadableFile) => {
      const s = hint(f)
      return s !== undefined && s <= SMALL
    }
    let next = 0
    let inFlight = 0
    const fill = (from: number) => {
      if (next < from) next = from
      while (next < files.length && next - from < PREFETCH_FILES && inFlight < PREFETCH_BYTES) {
        const f = files[next]!
        if (!small(f)) break
        const p = prefetch(f, hint(f)!)
        p.catch(() => {}) // surfaced when opened, in order
        ahead[next] = p
        inFlight += hint(f)!
        next++
      }
    }
    return {
      open: (k) => {
        const file = files[k]!
        if (this.readAheadLeft > 0 || this.alwaysReadAhead) fill(k)
        const pending = ahead[k]
        if (pending) {
          ahead[k] = null
          inFlight -= hint(file)!
          this.readAheadLeft--
          return pending.then((p) =>
            // It grew: stream it all, as a big file (its first bytes are in the page cache now).
            p.complete ? new WholeFile(p.data, p.fd, p.own, file) : new FileStream(p.fd, p.own, file, null),
          )
        }
        return this.openNow(file, small(file))
      },
    }
  }

  /** Opened on this thread; a small file's time tells whether to read the next ones ahead. */
  private openNow(file: ReadableFile, small: boolean): Source {
    const timed = small ? (ms: number) => this.sample(ms, hint(file)!) : null
    if (file.fd !== undefined) return new FileStream(file.fd, false, file, timed)
    const t = performance.now()
    let fd: number
    try {
      fd = checked(file, openSync(pathOf(file), OPEN_FLAGS))
    } catch (err) {
      timed?.(performance.now() - t)
      throw openError(err as NodeJS.ErrnoException)
    }
    return new FileStream(fd, true, file, timed, performance.now() - t)
  }

  private sample(ms: number, bytes: number): void {
    this.slowReads = ((this.slowReads << 1) | (slowRead(ms, bytes) ? 1 : 0)) & 0xff
    if (popcount(this.slowReads) >= SLOW_OF_LAST) {
      this.readAheadLeft = READ_AHEAD_SPELL
      this.slowReads = 0
    }
  }
}

/** The archiver's files, for Repository.writer({ source }). */
export const FILE_SOURCE: SourceSpec<ReadableFile> = {
  entry: { name: 'archive-worker', source: new URL('./archive-worker.ts', import.meta.url) },
  reader: () => new FileReader(),
}
