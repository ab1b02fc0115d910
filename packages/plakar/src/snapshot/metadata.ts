import * as fs from 'node:fs'

/**
 * Directory listings and lstat, synchronous on the main thread. libuv's pool would overlap
 * the disk waits of a cold cache, but on this project's kind of machine (a 2-vCPU VM) each
 * hand-off to the pool costs a cross-CPU wake-up worth more than the call: a cold walk and
 * lstat of 50k files costs ~1 s synchronously, and more CPU than that through the pool.
 * The inodes of a directory's files sit in a few blocks, so synchronous lstat after a
 * listing mostly hits the blocks the first one read.
 */
export type StatResult = fs.BigIntStats | NodeJS.ErrnoException

/** The names in `path`, sorted by bytes. */
export function readdirSorted(path: Buffer): Buffer[] {
  return fs.readdirSync(path, { encoding: 'buffer' }).sort(Buffer.compare)
}

/** lstat, the failure returned rather than thrown. */
export function lstatSyncResult(path: Buffer): StatResult {
  try {
    return fs.lstatSync(path, { bigint: true })
  } catch (err) {
    return err as NodeJS.ErrnoException
  }
}

/** lstat of every path, in order, a failure in its slot. */
export function lstatMany(paths: readonly Buffer[]): StatResult[] {
  return paths.map(lstatSyncResult)
}
