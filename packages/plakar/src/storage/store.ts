/**
 * The storage seam: where a repository's bytes live.
 *
 * A Store is a flat namespace of immutable objects grouped by kind, in the manner of
 * restic's backends. Everything above this seam (packs, indexes, snapshots, keys, locks)
 * is expressed as objects; a backend knows nothing of their content. Every backend
 * (memory, fs, sqlite, and later postgres and plakar://) passes the shared conformance
 * suite in `test/storage/conformance.ts`.
 *
 * CONTRACT
 * - Names are 1..128 characters of `[0-9a-z-]`, the first one not `-` (hex ids, UUIDs,
 *   and `config`). A backend MUST reject any other name with StorageError code
 *   `STORAGE_BAD_NAME`, before touching the medium (see checks.ts).
 * - put(kind, name, data) is atomic: a concurrent or later reader sees either nothing or
 *   the whole object, never a prefix, even if the process is killed mid-put. Objects are
 *   immutable: putting an existing name with identical bytes succeeds (idempotent);
 *   with different bytes it MUST fail with `STORAGE_EXISTS` and leave the old bytes.
 *   This holds across processes, so put of a fresh name is also an exclusive create:
 *   of several writers racing to put different bytes under one name, exactly one
 *   succeeds (a lock primitive needs nothing more). put resolves only once the object
 *   is durable (fsync or transaction commit). put keeps no reference to `data` once
 *   its promise settles, resolved or rejected: the caller may then reuse or overwrite it
 *   (the packer recycles pack buffers). Until then the caller must not change it.
 * - get(kind, name) returns the whole object; get(kind, name, offset, length) returns
 *   exactly `length` bytes starting at `offset` (offset alone: to the end). A missing
 *   object fails with `STORAGE_NOT_FOUND`; a range past the end fails with
 *   `STORAGE_SHORT_READ`; a short read is never returned silently. The returned bytes
 *   belong to the caller. Negative or fractional offsets are a bug (RangeError).
 * - stat returns the size, or undefined when absent.
 * - list(kind) yields every object of that kind that was fully put before list began, each
 *   exactly once, in no particular order; objects put during the listing may or may not
 *   appear. It never yields partial objects.
 * - Each listed object carries its `mtime`: an integer, milliseconds since the epoch, as the
 *   medium recorded it (fs: the file's mtime, stamped by the kernel or the file server;
 *   sqlite and memory: the writer's Date.now() inside the put). It is what a garbage
 *   collector ages objects by, so its bound that matters is the lower one. For the latest
 *   put of the object that succeeded, started at S and resolved at E by a reader's clock:
 *   S - slack <= mtime <= E + slack, where slack is the skew between the reader's clock and
 *   the recording one plus the medium's timestamp granularity (milliseconds on local
 *   filesystems, whose clock lags by up to a tick; 2 s on FAT). An idempotent re-put of
 *   identical bytes counts as a put: it moves mtime to its own time, never backwards, and
 *   durably before it resolves, so that an object a writer has just relied on is never seen
 *   as old. Nothing else changes mtime; two listings of an untouched object agree. An
 *   object stored before its medium recorded times (sqlite layout 1) reads as the time of
 *   the upgrade: later than its put, which is the safe side.
 * - delete(kind, name) removes the object; deleting a missing object succeeds (so that
 *   a retried cleanup is harmless).
 * - Any number of Store instances, in any number of processes, may use the same location
 *   at once; the above holds across them.
 * - clean(olderThanMs) removes what interrupted puts left behind (e.g. temp files of a
 *   killed writer) once its writer is known dead or it is older than `olderThanMs`; it
 *   never touches a complete object and resolves to how many leftovers it removed.
 * - A failure of the medium is a StorageError `STORAGE_IO` whose one-line message names
 *   the location and the object; a method called after close() fails `STORAGE_CLOSED`.
 * - close() releases handles; no other method is called after it.
 * - concurrency is how many requests the store usefully serves at once: a positive
 *   integer, constant for the store's life. A caller that wants throughput keeps about that
 *   many in flight; more only queue (holding their buffers) and fewer leave the medium idle.
 *   It is advice, not a limit: any number of calls may be pending, and all of the above holds.
 * - largePuts is how many puts of large objects (packs) a writer should keep in flight: a
 *   positive integer, constant for the store's life, at most `concurrency`. Each holds its
 *   buffer, so it is 1 where a put costs less than filling the next pack (local media), and
 *   more where each put waits on a round trip to a server. Advice too, like concurrency.
 *
 * Kinds are a closed set so that a backend can map each to a table or folder.
 */
export const OBJECT_KINDS = ['config', 'key', 'pack', 'index', 'snapshot', 'lock'] as const
export type ObjectKind = (typeof OBJECT_KINDS)[number]

export interface ObjectInfo {
  readonly name: string
  readonly size: number
  /** When the latest put of it succeeded, in ms since the epoch, as the medium recorded it. */
  readonly mtime: number
}

export interface Store {
  /**
   * The location as a normalised URL (e.g. `fs:///home/u/repo` for `~/repo` or a
   * relative path); openStore(location) opens the same place.
   */
  readonly location: string
  /** How many requests are worth keeping in flight (see the CONTRACT). */
  readonly concurrency: number
  /** How many large puts are worth keeping in flight (see the CONTRACT). */
  readonly largePuts: number
  /**
   * Create the location (empty). Fails with STORAGE_EXISTS if a repository store is there
   * (perhaps half created: a caller may then resume), and with STORAGE_BAD_LOCATION if
   * something else is in the way (a file, a non-empty directory, another program's
   * database), which it leaves untouched.
   */
  create(): Promise<void>
  /** Check the location exists and holds a repository. Fails with STORAGE_NOT_FOUND. */
  open(): Promise<void>
  put(kind: ObjectKind, name: string, data: Uint8Array): Promise<void>
  get(kind: ObjectKind, name: string, offset?: number, length?: number): Promise<Uint8Array>
  stat(kind: ObjectKind, name: string): Promise<number | undefined>
  list(kind: ObjectKind): AsyncIterable<ObjectInfo>
  delete(kind: ObjectKind, name: string): Promise<void>
  clean(olderThanMs?: number): Promise<number>
  close(): Promise<void>
}

/** A backend registers a factory under its URL scheme (`fs`, `sqlite`, `memory`, ...). */
export interface StoreFactory {
  readonly scheme: string
  /**
   * Build a Store for `url` (already parsed; plain paths arrive as `fs:` URLs). Does not
   * touch the medium. A malformed URL fails with `STORAGE_BAD_LOCATION`.
   */
  fromURL(url: URL): Store
}
