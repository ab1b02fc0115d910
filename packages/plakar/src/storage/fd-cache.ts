/**
 * Open read-only file descriptors kept for reuse, so that a restore reading thousands of
 * small blob ranges out of one pack pays fstat and pread per range instead of open, fstat,
 * read and close. Only for files that never change once named (objects are immutable);
 * the fstat notices a file deleted since (no links left), e.g. by another process.
 *
 * An fd is closed only when no read holds it: closing an fd under an in-flight read could
 * let the kernel hand its number to another open file and the read return that file's bytes.
 */
import { close, fstat, fstatSync, open } from 'node:fs'

interface Entry {
  readonly opened: Promise<{ fd: number; size: number }>
  refs: number
  evicted: boolean
}

export interface Lease {
  readonly fd: number
  readonly size: number
  release(): void
}

export class FdCache {
  readonly #max: number
  readonly #entries = new Map<string, Entry>()

  constructor(max = 64) {
    this.#max = max
  }

  /** An fd for `path` with the file's size; release() it when the read is done. Rejects like open(2). */
  async acquire(path: string): Promise<Lease> {
    let entry = this.#entries.get(path)
    if (entry === undefined) {
      entry = { opened: openForRead(path), refs: 0, evicted: false }
      this.#entries.set(path, entry)
      this.#trim()
    } else {
      this.#entries.delete(path) // re-insert: Map order is the recency order
      this.#entries.set(path, entry)
    }
    const e = entry
    e.refs++ // from here on e's fd stays open, whatever else happens meanwhile
    let file: { fd: number; size: number }
    try {
      file = await e.opened
    } catch (err) {
      this.#drop(path, e)
      throw err
    }
    if (fstatSync(file.fd).nlink === 0) {
      // Deleted (perhaps by another process, perhaps named again since): start afresh.
      this.#drop(path, e)
      return this.acquire(path)
    }
    let released = false
    return {
      fd: file.fd,
      size: file.size,
      release: () => {
        if (released) return
        released = true
        e.refs--
        if (e.evicted && e.refs === 0) closeEntry(e)
      },
    }
  }

  /** Forget `path` (deleted); its fd closes once the last read holding it is done. */
  evict(path: string): void {
    const entry = this.#entries.get(path)
    if (entry === undefined) return
    this.#entries.delete(path)
    entry.evicted = true
    if (entry.refs === 0) closeEntry(entry)
  }

  clear(): void {
    for (const path of [...this.#entries.keys()]) this.evict(path)
  }

  /** Give up a reference taken in acquire and forget the entry if the map still holds it. */
  #drop(path: string, e: Entry): void {
    if (this.#entries.get(path) === e) this.#entries.delete(path)
    e.evicted = true
    e.refs--
    if (e.refs === 0) closeEntry(e)
  }

  #trim(): void {
    for (const path of this.#entries.keys()) {
      if (this.#entries.size <= this.#max) return
      this.evict(path)
    }
  }
}

function closeEntry(entry: Entry): void {
  entry.opened.then(
    ({ fd }) => close(fd, () => {}),
    () => {},
  )
}

function openForRead(path: string): Promise<{ fd: number; size: number }> {
  return new Promise((resolve, reject) => {
    open(path, 'r', (err, fd) => {
      if (err) {
        reject(err)
        return
      }
      fstat(fd, (err2, st) => {
        if (err2) {
          close(fd, () => {})
          reject(err2)
          return
        }
        resolve({ fd, size: st.size })
      })
    })
  })
}
