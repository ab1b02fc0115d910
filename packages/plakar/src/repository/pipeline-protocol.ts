/**
 * Messages between a writer (main thread) and its pipeline workers. Version 4; both ends are
 * always the same build, so the version only guards against a stale dist/ worker file.
 *
 * main -> worker: TaskMessage, a batch of items (one big file, or many small ones) that the
 *   worker's source reader opens (source.ts).
 * worker -> main: ChunksMessage, the next chunks of the task's files in order, as parallel
 *   arrays over n chunks plus `data`, the sealed blobs back to back. `sealed[k]` is the sealed
 *   length of chunk k in `data`, or -1 when the worker found the blob in the repository's
 *   index (the cache) and did not seal it. A file's chunks may span messages; the section
 *   with done=true ends it (with `error` if it failed).
 * Slots: `data` is a view of one of CREDITS fixed regions of `WorkerInit.slots`, memory
 *   shared with the main thread, used round robin, one per message: the sealed bytes are
 *   written once and read (copied into a pack) once, and no buffer is allocated per message.
 * Flow control: the worker takes one credit (shared Int32Array slot 0) before it starts
 *   filling the next region and blocks on Atomics.wait while there is none; the main thread
 *   gives the credit back once the message is packed (its region is free again) and the
 *   packer has room. So memory in flight is the CREDITS regions per worker, and a slow store
 *   slows the workers.
 */
export const PROTOCOL_VERSION = 5

export interface WorkerInit {
  readonly version: number
  readonly dataKey: Uint8Array | null
  readonly idKey: Uint8Array | null
  readonly compression: string | null
  readonly chunking: {
    readonly algorithm: string
    readonly min: number
    readonly avg: number
    readonly max: number
  }
  /** The local cache file, opened read-only to skip sealing blobs the repository holds. */
  readonly cacheFile: string | null
  readonly credits: SharedArrayBuffer
  /** CREDITS regions of slotBytes(chunking.max) bytes each (see Slots above). */
  readonly slots: SharedArrayBuffer
}

export interface TaskMessage {
  readonly kind: 'task'
  readonly task: number
  /** The items, as the source reader takes them (structured clone). */
  readonly files: readonly unknown[]
  /** bytes the task is expected to read (the callers' size hints), to size its buffers */
  readonly expected: number
}

export interface SectionInfo {
  /** index of the file in the task's files */
  readonly file: number
  readonly count: number
  readonly done: boolean
  readonly error?: { readonly code: string; readonly message: string }
  /** With done: what the source's close(true) returned (its metadata), when defined. */
  readonly meta?: unknown
  /** With done and no error: SHA-256 of every byte the source gave, in order (32 bytes). */
  readonly digest?: Uint8Array
}

export interface ChunksMessage {
  readonly task: number
  readonly sections: readonly SectionInfo[]
  readonly ids: Uint8Array
  readonly raw: Uint32Array
  readonly sealed: Int32Array
  readonly data: Uint8Array
}

/** Bytes of sealed blobs after which a worker posts what it has. */
export const FLUSH_BYTES = 2 << 20
/** Messages a worker may have in flight before it blocks. */
export const CREDITS = 2

/**
 * Bytes of one slot: FLUSH_BYTES plus the largest sealed chunk (a chunk is stored compressed
 * only when that shrinks it, so it seals to at most max + codec tag + AEAD overhead), so a
 * message never outgrows its slot.
 */
export function slotBytes(maxChunk: number): number {
  return FLUSH_BYTES + maxChunk + 64
}
