/**
 * The filesystem steps the fs backend is made of, each with the durability it promises.
 * Kept apart from store-fs.ts so the store reads as the protocol (temp file, link, fsync)
 * and this file as the system calls.
 */
import { createHash, randomBytes } from 'node:crypto'
import { promises as fsp, read } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'
import { hostname } from 'node:os'

export type Errno = NodeJS.ErrnoException

export function errno(err: unknown): string | undefined {
  return (err as Errno | null)?.code
}

/** "permission denied (EACCES)" from Node's "EACCES: permission denied, open '/x'". */
export function describe(err: unknown): string {
  const e = err as Errno
  const m = /^[A-Z0-9]+: ([^,]+)/.exec(e?.message ?? '')
  return m?.[1] !== undefined && e.code !== undefined ? `${m[1]} (${e.code})` : String(e?.message ?? err)
}

/**
 * Temp files start with a dot (never a valid object name, so list skips them) and name
 * their writer, so clean() can tell a dead writer's leftovers from a live one's work:
 * `.tmp-<host tag>-<pid>-<random>`.
 */
const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 8)
export const TEMP_PREFIX = '.tmp-'

export function tempName(): string {
  return `${TEMP_PREFIX}${HOST_TAG}-${process.pid}-${randomBytes(6).toString('hex')}`
}

/** Whether the writer of temp file `name` is certainly gone (same host, no such pid). */
export function tempWriterDead(name: string): boolean {
  const m = /^\.tmp-([0-9a-f]{8})-(\d+)-/.exec(name)
  if (m === null || m[1] !== HOST_TAG) return false
  const pid = Number(m[2])
  if (pid === process.pid) return false
  try {
    process.kill(pid, 0)
    return false
  } catch (err) {
    return errno(err) === 'ESRCH'
  }
}

/** Write `data` to a new file (O_EXCL) and fsync it; the file is read-only from then on. */
export async function writeNewFile(path: string, data: Uint8Array): Promise<void> {
  const fh = await fsp.open(path, 'wx', 0o400)
  try {
    let done = 0
    while (done < data.byteLength) {
      const { bytesWritten } = await fh.write(data, done, data.byteLength - done, done)
      done += bytesWritten
    }
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/**
 * Move an open file's mtime to now, never backwards, and fsync it: an idempotent re-put
 * counts as a put for the age a collector sees (store.ts), even after a crash.
 */
export async function touch(fh: FileHandle): Promise<void> {
  const { atime, mtimeMs } = await fh.stat()
  await fh.utimes(atime, Math.max(Date.now(), mtimeMs) / 1000)
  await fh.sync()
}

/** fsync a directory so that the names created or removed in it are durable. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r')
  try {
    await fh.sync()
  } catch (err) {
    // Some filesystems cannot fsync a directory; they order metadata themselves.
    if (errno(err) !== 'EINVAL' && errno(err) !== 'ENOTSUP') throw err
  } finally {
    await fh.close()
  }
}

/**
 * Make `path` (whose content is fsynced) appear as `target` only if `target` is absent:
 * link(2) fails with EEXIST instead of replacing, which is what makes put an exclusive
 * create across processes. Returns false when `target` already exists. The temp name is
 * removed either way. Filesystems without hard links fall back to rename after a check
 * (a race between two writers of different bytes may then replace; documented).
 */
export async function publish(temp: string, target: string): Promise<boolean> {
  try {
    await fsp.link(temp, target)
    return true
  } catch (err) {
    const code = errno(err)
    if (code === 'EEXIST') return false
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw err
    if (await exists(target)) return false
    await fsp.rename(temp, target)
    return true
  } finally {
    await fsp.rm(temp, { force: true })
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await fsp.lstat(path)
    return true
  } catch (err) {
    if (errno(err) === 'ENOENT') return false
    throw err
  }
}

/** Read [start, end) of an open fd; fewer bytes than asked gives undefined, never a short result. */
export function readRange(fd: number, start: number, end: number): Promise<Buffer | undefined> {
  const buf = Buffer.allocUnsafe(end - start)
  return new Promise((resolve, reject) => {
    const step = (done: number): void => {
      if (done === buf.byteLength) {
        resolve(buf)
        return
      }
      read(fd, buf, done, buf.byteLength - done, start + done, (err, n) => {
        if (err) reject(err)
        else if (n === 0) resolve(undefined)
        else step(done + n)
      })
    }
    step(0)
  })
}
