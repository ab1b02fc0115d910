import { isPlakarError, RepositoryError } from '../errors.js'
import { blobTypeCode, blobTypeFromCode } from '../format/index.js'
import type { BlobId, BlobLocation, BlobType } from './types.js'

/**
 * A batch of sealed blobs read out of packs: the one unit of the repository's read path.
 *
 * Repository.fetchBlobs locates nothing: it takes blobs already located (locateBlobs), reads
 * each distinct blob once, neighbours in a pack in one range read (a restore reads in the
 * order the backup wrote), and keeps the ranges as read. A batch is then opened (decrypted,
 * decompressed, verified against its id) either here, by the repository's own opener
 * (SealedBatch.open), or on a worker of a BlobPool, where it travels as SealedBatchData with
 * its ranges transferred, not copied. Nothing in it is a key: the opener that holds them is
 * the repository's, on either thread.
 *
 * CONTRACT
 * - Blob `k` (0 <= k < count) is distinct; `slot(i)` names the blob that input `i` of
 *   fetchBlobs became (equal ids share one).
 * - error(k) is non-null when its range could not be read (a missing or short pack is
 *   REPO_CORRUPT's message); such a blob cannot be opened. A bug while reading rejects
 *   fetchBlobs instead.
 * - open(k) returns verified content or throws REPO_CORRUPT naming the blob, never garbage.
 */
export interface LocatedBlob {
  readonly id: BlobId
  readonly loc: BlobLocation
}

/** A batch as it crosses to a worker thread (structured clone; `data` transferred). */
export interface SealedBatchData {
  readonly types: Uint8Array
  readonly ids: Uint8Array
  /** Blob k is lengths[k] bytes at offsets[k] of data[ranges[k]]. */
  readonly ranges: Uint32Array
  readonly offsets: Uint32Array
  readonly lengths: Uint32Array
  /** Each range read, or null when its read failed (rangeErrors says why). */
  readonly data: readonly (ArrayBuffer | null)[]
  readonly rangeErrors: readonly (string | null)[]
}

/** Opens one sealed blob (Envelope.openBlob of the repository's envelope). */
export type OpenBlob = (type: BlobType, id: Uint8Array, sealed: Uint8Array) => Uint8Array

/** Blobs of one pack this close together are read in one range (the gap read and dropped). */
const RANGE_GAP = 64 << 10
/** A range read grows to this many bytes at most. */
const RANGE_MAX = 2 << 20

export class SealedBatch {
  /** The content of blob k may be a view of a buffer the opener reuses (see OpenedBatch). */
  constructor(
    private readonly batch: SealedBatchData,
    private readonly slots: Uint32Array,
    private readonly opener: OpenBlob,
  ) {}

  get count(): number {
    return this.batch.lengths.length
  }

  /** The blob input `i` of fetchBlobs is. */
  slot(i: number): number {
    return this.slots[i]!
  }

  error(k: number): string | null {
    return this.batch.rangeErrors[this.batch.ranges[k]!] ?? null
  }

  open(k: number): Uint8Array {
    return openIn(this.batch, k, this.opener)
  }

  /** Blob k as stored (a view of its range), unverified; with its type. */
  sealed(k: number): { readonly type: BlobType; readonly bytes: Uint8Array } {
    const b = this.batch
    const range = b.data[b.ranges[k]!]
    if (range === null || range === undefined) throw new Error(this.error(k) ?? `blob ${k}: not read`)
    return {
      type: blobTypeFromCode(b.types[k]!) ?? 'data',
      bytes: new Uint8Array(range, b.offsets[k], b.lengths[k]),
    }
  }

  /**
   * The batch for a worker, with what to transfer. The ranges are detached from this
   * thread: the batch cannot be opened here afterwards.
   */
  detach(): { readonly data: SealedBatchData; readonly transfer: ArrayBuffer[] } {
    const b = this.batch
    const transfer: ArrayBuffer[] = [
      b.types.buffer,
      b.ids.buffer,
      b.ranges.buffer,
      b.offsets.buffer,
      b.lengths.buffer,
    ].filter((x): x is ArrayBuffer => x instanceof ArrayBuffer)
    for (const d of b.data) if (d !== null) transfer.push(d)
    return { data: b, transfer }
  }
}

/** Blob k of a batch, opened (verified) with `opener`; the error of its range if it has one. */
export function openIn(batch: SealedBatchData, k: number, opener: OpenBlob): Uint8Array {
  const range = batch.ranges[k]!
  const bytes = batch.data[range]
  const type = blobTypeFromCode(batch.types[k]!) ?? 'data'
  const id = batch.ids.subarray(32 * k, 32 * k + 32)
  if (bytes === null || bytes === undefined)
    throw new Error(batch.rangeErrors[range] ?? `blob ${Buffer.from(id).toString('hex')}: not read`)
  return opener(type, id, new Uint8Array(bytes, batch.offsets[k], batch.lengths[k]))
}

/**
 * Reads the distinct blobs of `blobs` (sorted by pack and offset, neighbours coalesced into
 * one range read) with `read`, which fails as Repository.readPack does. A read that fails
 * with a PlakarError (a store wraps its medium's failures as STORAGE_IO) is that range's
 * error; any other failure is a bug and rejects.
 */
export async function fetchSealed(
  blobs: readonly LocatedBlob[],
  read: (pack: string, offset: number, length: number) => Promise<Uint8Array>,
  opener: OpenBlob,
): Promise<SealedBatch> {
  const slots = new Uint32Array(blobs.length)
  const byId = new Map<string, number>()
  const table: LocatedBlob[] = []
  blobs.forEach((b, i) => {
    const key = Buffer.from(b.id.buffer, b.id.byteOffset, b.id.byteLength).toString('latin1')
    let k = byId.get(key)
    if (k === undefined) {
      k = table.length
      byId.set(key, k)
      table.push(b)
    }
    slots[i] = k
  })
  const n = table.length
  const order = Array.from({ length: n }, (_, k) => k).sort((x, y) => {
    const a = table[x]!.loc
    const b = table[y]!.loc
    return (a.pack < b.pack ? -1 : a.pack > b.pack ? 1 : 0) || a.offset - b.offset
  })
  const types = new Uint8Array(n)
  const ids = new Uint8Array(32 * n)
  const ranges = new Uint32Array(n)
  const offsets = new Uint32Array(n)
  const lengths = new Uint32Array(n)
  table.forEach((b, k) => {
    types[k] = blobTypeCode(b.loc.type)
    ids.set(b.id, 32 * k)
    lengths[k] = b.loc.length
  })
  const data: (ArrayBuffer | null)[] = []
  const rangeErrors: (string | null)[] = []
  const reads: Promise<void>[] = []
  for (let i = 0; i < n; ) {
    const first = table[order[i]!]!.loc
    let end = first.offset + first.length
    let j = i + 1
    while (j < n) {
      const l = table[order[j]!]!.loc
      if (
        l.pack !== first.pack ||
        l.offset > end + RANGE_GAP ||
        l.offset + l.length - first.offset > RANGE_MAX
      )
        break
      end = Math.max(end, l.offset + l.length)
      j++
    }
    const r = data.length
    data.push(null)
    rangeErrors.push(null)
    for (let m = i; m < j; m++) {
      const k = order[m]!
      ranges[k] = r
      offsets[k] = table[k]!.loc.offset - first.offset
    }
    reads.push(
      read(first.pack, first.offset, end - first.offset).then(
        (bytes) => {
          data[r] = owned(bytes)
        },
        (err) => {
          if (!isPlakarError(err)) throw err
          rangeErrors[r] = (err as Error).message
        },
      ),
    )
    i = j
  }
  await Promise.all(reads)
  return new SealedBatch({ types, ids, ranges, offsets, lengths, data, rangeErrors }, slots, opener)
}

/** A batch of blobs read one by one (getBlob's reads), copied back to back into one range. */
export function sealedOf(
  items: readonly { readonly type: BlobType; readonly id: Uint8Array; readonly sealed: Uint8Array }[],
  opener: OpenBlob,
): SealedBatch {
  const n = items.length
  const types = new Uint8Array(n)
  const ids = new Uint8Array(32 * n)
  const offsets = new Uint32Array(n)
  const lengths = new Uint32Array(n)
  let total = 0
  for (const it of items) total += it.sealed.length
  const bytes = new Uint8Array(total)
  let at = 0
  items.forEach((it, k) => {
    types[k] = blobTypeCode(it.type)
    ids.set(it.id, 32 * k)
    offsets[k] = at
    lengths[k] = it.sealed.length
    bytes.set(it.sealed, at)
    at += it.sealed.length
  })
  const slots = Uint32Array.from({ length: n }, (_, k) => k)
  const data = {
    types,
    ids,
    ranges: new Uint32Array(n),
    offsets,
    lengths,
    data: [bytes.buffer],
    rangeErrors: [null],
  }
  return new SealedBatch(data, slots, opener)
}

/**
 * The bytes as an ArrayBuffer of their own, to transfer: the store's buffer itself when the
 * bytes fill it (a read's fresh buffer, which the store gives to the caller), else a copy (a
 * small read from Node's shared pool must not be detached).
 */
function owned(bytes: Uint8Array): ArrayBuffer {
  if (
    bytes.byteOffset === 0 &&
    bytes.byteLength === bytes.buffer.byteLength &&
    bytes.buffer instanceof ArrayBuffer
  )
    return bytes.buffer
  return new Uint8Array(bytes).buffer
}

/**
 * The blobs `ids`, located (one index query) and read as one batch: per input, the slot of
 * its blob in the batch, or the error it failed with: not in the index, or its range not read
 * (REPO_CORRUPT naming the blob); and where each is. Repository.loadBlobs and maintenance's copyBlobs both read
 * this way.
 */
export async function fetchIds(
  ids: readonly BlobId[],
  locate: (ids: readonly BlobId[]) => Promise<(BlobLocation | RepositoryError)[]>,
  fetch: (blobs: readonly LocatedBlob[]) => Promise<SealedBatch>,
): Promise<{
  readonly batch: SealedBatch
  readonly slots: readonly (number | RepositoryError)[]
  readonly locs: readonly (BlobLocation | RepositoryError)[]
}> {
  const locs = await locate(ids)
  const located: LocatedBlob[] = []
  const at: number[] = []
  locs.forEach((loc, i) => {
    if (loc instanceof RepositoryError) return
    at[i] = located.length
    located.push({ id: ids[i]!, loc })
  })
  const batch = await fetch(located)
  const slots = locs.map((loc, i) => {
    if (loc instanceof RepositoryError) return loc
    const k = batch.slot(at[i]!)
    const error = batch.error(k)
    return error === null
      ? k
      : new RepositoryError('REPO_CORRUPT', `blob ${Buffer.from(ids[i]!).toString('hex')}: ${error}`)
  })
  return { batch, slots, locs }
}
