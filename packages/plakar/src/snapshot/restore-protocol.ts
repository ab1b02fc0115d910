import type { WorkerEntry } from '../repository/index.js'

/**
 * Payloads between a restore (main thread, restore-pool.ts) and its file-writing workers
 * (restore-worker.ts), which are workers of the repository's blob pool: each RestoreBatch
 * travels with the sealed batch of its blobs (repository/sealed-batch.ts), which the
 * repository's side of the worker opens. Both ends are always the same build; the version
 * only guards against a stale dist/ worker file.
 *
 * main -> worker: RestoreBatch, sections of files. A file is one section (most files) or
 *   several, in several batches to the same worker, which keeps the file open in between.
 *   `refs` lists, section after section, the blob (index in the sealed batch) of each chunk
 *   in order.
 * worker -> main: RestoreReply, the outcome of each section in order (`status`), the content
 *   bytes it wrote, and messages. Batches are answered in order of arrival.
 */
export const RESTORE_PROTOCOL_VERSION = 2

/** The restore worker, as a blob pool starts it. */
export const RESTORE_WORKER: WorkerEntry = {
  name: 'restore-worker',
  source: new URL('./restore-worker.ts', import.meta.url),
}

export interface RestoreInit {
  readonly version: number
  /** Restore owners (fchown); the main thread decides (root, or the caller's option). */
  readonly owners: boolean
}

export interface FileSection {
  /** The file's number in this restore, the same in each of its sections. */
  readonly handle: number
  /** First section: create the temporary file. */
  readonly open: boolean
  /** Last section: check the size, apply the metadata, rename into place. */
  readonly close: boolean
  /** The main thread gave up on the file (a later part could not be read): remove it. */
  readonly abort: boolean
  /** Chunks in this section (entries of `refs`). */
  readonly count: number
  /** The temporary and final paths, bytes at these offsets of `names`. */
  readonly tmpAt: number
  readonly tmpLength: number
  readonly pathAt: number
  readonly pathLength: number
  readonly size: number
  readonly sparse: boolean
  readonly mode: number
  readonly uid: number
  readonly gid: number
  /** mtime in seconds (microsecond precision), as futimes takes it. */
  readonly mtime: number
  readonly xattrs: readonly (readonly [Uint8Array, Uint8Array])[] | null
}

/**
 * Sections travel as SECTION_FIELDS numbers each in one Float64Array (cloning an object per
 * file costs both threads more than the file's system calls), extended attributes apart.
 */
export const SECTION_FIELDS = 12
const OPEN = 1
const CLOSE = 2
const ABORT = 4
const SPARSE = 8

export function putSection(table: Float64Array, i: number, s: Omit<FileSection, 'xattrs'>): void {
  const at = i * SECTION_FIELDS
  table[at] = s.handle
  table[at + 1] =
    (s.open ? OPEN : 0) | (s.close ? CLOSE : 0) | (s.abort ? ABORT : 0) | (s.sparse ? SPARSE : 0)
  table[at + 2] = s.count
  table[at + 3] = s.tmpAt
  table[at + 4] = s.tmpLength
  table[at + 5] = s.pathAt
  table[at + 6] = s.pathLength
  table[at + 7] = s.size
  table[at + 8] = s.mode
  table[at + 9] = s.uid
  table[at + 10] = s.gid
  table[at + 11] = s.mtime
}

export function getSection(msg: RestoreBatch, i: number): FileSection {
  const t = msg.sections
  const at = i * SECTION_FIELDS
  const flags = t[at + 1]!
  return {
    handle: t[at]!,
    open: (flags & OPEN) !== 0,
    close: (flags & CLOSE) !== 0,
    abort: (flags & ABORT) !== 0,
    sparse: (flags & SPARSE) !== 0,
    count: t[at + 2]!,
    tmpAt: t[at + 3]!,
    tmpLength: t[at + 4]!,
    pathAt: t[at + 5]!,
    pathLength: t[at + 6]!,
    size: t[at + 7]!,
    mode: t[at + 8]!,
    uid: t[at + 9]!,
    gid: t[at + 10]!,
    mtime: t[at + 11]!,
    xattrs: msg.xattrs.get(i) ?? null,
  }
}

export interface RestoreBatch {
  /** The sections, SECTION_FIELDS numbers each (putSection, getSection). */
  readonly sections: Float64Array
  /** Extended attributes of the sections that have some, by section index. */
  readonly xattrs: ReadonlyMap<number, readonly (readonly [Uint8Array, Uint8Array])[]>
  readonly names: Uint8Array
  readonly refs: Uint32Array
}

/** The section was written; its file stays open for the next one. */
export const SECTION_WRITTEN = 0
/** The file is complete and renamed into place. */
export const FILE_DONE = 1
/** The file failed (`errors` says why); its temporary file is removed. */
export const FILE_FAILED = 2
/** The file had failed in an earlier section (or was aborted): nothing done. */
export const FILE_SKIPPED = 3

export interface RestoreReply {
  readonly status: Uint8Array
  /** Content bytes written per section. */
  readonly written: Float64Array
  readonly errors: readonly (string | null)[]
  /** Per section: what was restored incompletely (extended attributes), or null. */
  readonly warnings: readonly (string | null)[]
  /** An error that is a bug (not a system error, not a PlakarError): the restore stops. */
  readonly bug: string | null
}
