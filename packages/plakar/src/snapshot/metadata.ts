import * as fs from 'node:fs'

/**
 * Directory listings and lstat through libuv's thread pool, many at once. On a cold page
 * cache each call waits for the disk; issued one after the other on the main thread they
 * would serialise those waits (the archiver's main cost on a cold no-change backup). The
 * pool runs them in parallel (bin/plakar sets UV_THREADPOOL_SIZE to 16).
 */
const STATS_IN_FLIGHT = 32
/** An lstat faster than this was served from memory. */
const WARM_NS = 40_000n
/** Listings started ahead and not yet taken; bounds the names held in memory. */
const PREFETCH_MAX = 64

export type StatResult = fs.BigIntStats | NodeJS.ErrnoException

export function readdirBytes(path: Buffer): Promise<Buffer[]> {
  return new Promise((resolve, reject) =>
    fs.readdir(path, { encoding: 'buffer' }, (err, names) => (err ? reject(err) : resolve(names))),
  )
}

/** lstat, the failure returned rather than thrown. */
export function lstatSyncResult(path: Buffer): StatResult {
  try {
    return fs.lstatSync(path, { bigint: true })
  } catch (err) {
    return err as NodeJS.ErrnoException
  }
}

/**
 * lstat of every path, in order, a failure in its slot. When the first answer comes from
 * memory (the page cache is warm) the rest are asked synchronously, which costs the least
 * CPU; when it had to wait for the disk, the rest go through the pool in parallel.
 */
export async function lstatMany(paths: readonly Buffer[]): Promise<StatResult[]> {
  if (paths.length === 0) return []
  const t = process.hrtime.bigint()
  const first = lstatSyncResult(paths[0]!)
  if (process.hrtime.bigint() - t < WARM_NS) {
    const out = [first]
    for (let i = 1; i < paths.length; i++) out.push(lstatSyncResult(paths[i]!))
    return out
  }
  return [first, ...(await lstatAll(paths.slice(1)))]
}

/** lstat of every path through the pool, in order; a failure is returned in its slot. */
export function lstatAll(paths: readonly Buffer[]): Promise<StatResult[]> {
  const out = new Array<StatResult>(paths.length)
  if (paths.length === 0) return Promise.resolve(out)
  return new Promise((resolve) => {
    let next = 0
    let done = 0
    const start = () => {
      const i = next++
      fs.lstat(paths[i]!, { bigint: true }, (err, st) => {
        out[i] = err ?? st
        if (++done === paths.length) resolve(out)
        else if (next < paths.length) start()
      })
    }
    for (let k = 0; k < Math.min(STATS_IN_FLIGHT, paths.length); k++) start()
  })
}

/**
 * Listings of directories the walker will enter soon, started ahead so that their disk
 * reads overlap the current directory's work. Each is taken (and forgotten) once.
 */
export class ListingPrefetch {
  private readonly started = new Map<string, Promise<Buffer[]>>()

  prefetch(path: Buffer): void {
    const key = path.toString('latin1')
    if (this.started.has(key) || this.started.size >= PREFETCH_MAX) return
    const p = readdirBytes(path)
    p.catch(() => {})
    this.started.set(key, p)
  }

  /** The names in `path`, sorted by bytes; from the prefetch when there is one. */
  async take(path: Buffer): Promise<Buffer[]> {
    const key = path.toString('latin1')
    const p = this.started.get(key)
    this.started.delete(key)
    return (await (p ?? readdirBytes(path))).sort(Buffer.compare)
  }
}
