/**
 * sync: snapshots copied between two different repositories (other keys, passphrases,
 * compression, chunking), keeping their identity: uuid, time, host, paths, tags and every
 * entry's metadata are the source's; only the blob ids differ, since each repository names
 * blobs with its own key.
 *
 * CONTRACT
 * - A snapshot is copied only if the peer has no snapshot of its uuid, so running sync
 *   again copies nothing, and snapshots synced both ways never duplicate.
 * - File contents keep the source's chunk boundaries: each chunk is opened (authenticated)
 *   in the source and sealed again for the peer, which deduplicates it by its own id. The
 *   peer's chunker is not applied (a later push there chunks with its own parameters).
 * - What the peer already has is not read again. The peer holds, under the same uuids,
 *   the snapshots synced before; the newest of them with the same host and paths (else the
 *   newest) is the base: walking the new snapshot beside the base in both repositories, a
 *   directory whose source tree is the base's is taken whole from the peer's base, and a
 *   file whose content is the base's takes the peer's content, unread. The base exists in
 *   the peer, so everything it names is there (a prune keeps what snapshots use).
 * - The snapshot object is written last, under the peer's write lock, once every blob it
 *   names is durable and indexed (as a push commits): a killed sync leaves no snapshot
 *   half there, only packs a later sync reuses or a prune reclaims.
 */
import { isPlakarError, PlakarError } from '../errors.js'
import type { BlobId } from '../repository/index.js'
import {
  type Content,
  DirWriter,
  type Entry,
  encodeHeader,
  FILE_SOURCE,
  joinPath,
  listHeaders,
  loadHeader,
  makeContent,
  type SnapshotBlobWriter,
  type SnapshotHeader,
  type SnapshotRepository,
  TreeReader,
} from '../snapshot/index.js'
import { TransferProgress } from './progress.js'

/** Chunks read from the source at once, per file (about 8 MiB at the default chunk size). */
const CHUNK_BATCH = 16
/**
 * Files of a directory copied at once: while one's chunks are sealed on this thread, the
 * next ones' are read (one at a time, a first sync was mostly waiting). With CHUNK_BATCH,
 * it bounds the chunks held to 128.
 */
const FILES_IN_FLIGHT = 8
/** Source chunk ids remembered (with their peer ids) within one sync, for dedup. */
const MAP_LIMIT = 500_000

export interface SyncOptions {
  /** The source's snapshots to consider (uuids); all of them by default. */
  readonly uuids?: readonly string[]
  readonly progress?: TransferProgress
}

export interface SyncReport {
  /** Snapshots copied, oldest first. */
  readonly copied: readonly SnapshotHeader[]
  /** Snapshots considered that the peer already held. */
  readonly present: number
  /** Blobs and bytes the peer stored (after its dedup, compression and encryption). */
  readonly blobs: number
  readonly stored: number
  /** Bytes of source chunks read and sealed again. */
  readonly read: number
}

/** What sync needs of each repository: the snapshot layer's, and batched blob reads. */
export interface SyncRepository extends SnapshotRepository {
  /** The contents of blobs, verified, each or its error (Repository.loadBlobs). */
  loadBlobs(ids: readonly BlobId[]): Promise<(Uint8Array | Error)[]>
}

interface Walk {
  /** The peer's writer for this snapshot, counting what it stores. */
  put: Pick<SnapshotBlobWriter, 'putBlob'>
  readonly from: TreeReader
  readonly to: TreeReader
  readonly source: SyncRepository
  readonly map: Map<string, Buffer>
  readonly progress: TransferProgress
  /** The snapshot being copied, as its short id: how a damaged source blob is named. */
  snapshot: string
  blobs: number
  stored: number
  read: number
}

function sameIds(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  return a.length === b.length && a.every((id, i) => Buffer.from(id).equals(b[i]!))
}

function sameContent(a: Content | undefined, b: Content | undefined): boolean {
  if (a === undefined || b === undefined) return false
  if ('chunks' in a) return 'chunks' in b && sameIds(a.chunks, b.chunks)
  return 'lists' in a && 'lists' in b && sameIds(a.lists, b.lists)
}

const key = (id: Uint8Array) => Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('latin1')

export async function sync(
  from: SyncRepository,
  to: SyncRepository,
  opts: SyncOptions = {},
): Promise<SyncReport> {
  const progress = opts.progress ?? new TransferProgress()
  const wanted = opts.uuids === undefined ? undefined : new Set(opts.uuids)
  const theirs = new Set(await to.listSnapshots())
  const all = await listHeaders(from)
  const headers = all.filter((h) => wanted === undefined || wanted.has(h.uuid))
  const todo = headers.filter((h) => !theirs.has(h.uuid))
  progress.total = todo.reduce((n, h) => n + h.size, 0)
  const walk: Walk = {
    from: new TreeReader(from),
    to: new TreeReader(to),
    source: from,
    put: { putBlob: () => Promise.reject(new Error('sync: no writer')) },
    map: new Map(),
    progress,
    snapshot: '',
    blobs: 0,
    stored: 0,
    read: 0,
  }
  // Bases: the source's snapshots the peer holds too (as synced before, or in this run),
  // whether or not they are among those asked for.
  const common = all.filter((h) => theirs.has(h.uuid))
  const copied: SnapshotHeader[] = []
  for (const header of todo) {
    const base = pickBase(header, common)
    // A base the peer cannot read is no base: the snapshot is copied in full instead.
    const baseTo =
      base === undefined
        ? undefined
        : await loadHeader(to, base.uuid).then(
            (h) => h.root,
            () => undefined,
          )
    await copySnapshot(walk, to, header, baseTo === undefined ? undefined : base?.root, baseTo)
    copied.push(header)
    common.push(header)
  }
  return {
    copied,
    present: headers.length - todo.length,
    blobs: walk.blobs,
    stored: walk.stored,
    read: walk.read,
  }
}

/** The newest common snapshot of the same host and paths, else the newest common one. */
function pickBase(h: SnapshotHeader, common: readonly SnapshotHeader[]): SnapshotHeader | undefined {
  const older = common.filter((c) => c.uuid !== h.uuid)
  const same = older.filter((c) => c.hostname === h.hostname && c.paths.join('\0') === h.paths.join('\0'))
  const pick = (list: SnapshotHeader[]) =>
    list.reduce<SnapshotHeader | undefined>((a, c) => (a === undefined || c.time > a.time ? c : a), undefined)
  return pick(same) ?? pick(older)
}

async function copySnapshot(
  walk: Walk,
  to: SyncRepository,
  header: SnapshotHeader,
  baseFrom: Entry | undefined,
  baseTo: Entry | undefined,
): Promise<void> {
  const lock = await to.lockForWrite()
  try {
    const writer = to.writer({ source: FILE_SOURCE, beforeIndex: () => lock.assertHeld() })
    walk.put = {
      putBlob: async (type, data) => {
        const r = await writer.putBlob(type, data)
        if (r.stored) {
          walk.blobs++
          walk.stored += r.packedSize
        }
        return r
      },
    }
    const storedBefore = walk.stored
    walk.snapshot = header.uuid.slice(0, 8)
    let root: Entry
    try {
      root = await copyDir(walk, header.root, baseFrom, baseTo, Buffer.from('/'))
      await writer.flush()
    } finally {
      await writer.close()
    }
    await lock.assertHeld()
    await to.putSnapshot(header.uuid, encodeHeader({ ...header, root, stored: walk.stored - storedBefore }))
  } catch (err) {
    await lock.release().catch(() => {})
    throw err
  }
  await lock.release()
}

async function copyDir(
  walk: Walk,
  e: Entry,
  baseFrom: Entry | undefined,
  baseTo: Entry | undefined,
  path: Buffer,
): Promise<Entry> {
  if (
    baseFrom?.kind === 'dir' &&
    baseTo?.kind === 'dir' &&
    baseFrom.tree !== undefined &&
    baseTo.tree !== undefined &&
    Buffer.from(baseFrom.tree).equals(e.tree!)
  ) {
    walk.progress.files += e.count ?? 0
    walk.progress.bytes += e.size
    return { ...e, tree: baseTo.tree }
  }
  const dir = new DirWriter(walk.put)
  // Files in flight, added to the directory in name order as each is done. A subdirectory
  // waits for them, so files in flight stay at most FILES_IN_FLIGHT however deep the tree.
  const ahead: Promise<Entry>[] = []
  const settle = async (keep: number) => {
    while (ahead.length > keep) await dir.add(await ahead.shift()!)
  }
  try {
    for await (const child of walk.from.list(e.tree!)) {
      const bf = baseFrom?.kind === 'dir' ? await walk.from.lookup(baseFrom.tree!, child.name) : undefined
      const bt =
        bf !== undefined && baseTo?.kind === 'dir'
          ? await walk.to.lookup(baseTo.tree!, child.name)
          : undefined
      const at = joinPath(path, child.name)
      if (child.kind === 'file') {
        const copy = copyFile(walk, child, bf, bt, at)
        copy.catch(() => {}) // awaited in order by settle
        ahead.push(copy)
        await settle(FILES_IN_FLIGHT - 1)
      } else {
        await settle(0)
        await dir.add(child.kind === 'dir' ? await copyDir(walk, child, bf, bt, at) : child)
      }
    }
    await settle(0)
  } catch (err) {
    // Nothing may still be writing once the caller closes the writer.
    await Promise.allSettled(ahead)
    throw err
  }
  return { ...e, tree: await dir.finish() }
}

async function copyFile(
  walk: Walk,
  e: Entry,
  baseFrom: Entry | undefined,
  baseTo: Entry | undefined,
  path: Buffer,
): Promise<Entry> {
  walk.progress.files++
  if (baseFrom?.kind === 'file' && baseTo?.kind === 'file' && sameContent(e.content, baseFrom.content)) {
    walk.progress.bytes += e.size
    return { ...e, content: baseTo.content! }
  }
  const ids: Buffer[] = []
  for await (const id of walk.from.chunks(e.content!)) ids.push(id)
  const out: Uint8Array[] = new Array(ids.length)
  for (let i = 0; i < ids.length; i += CHUNK_BATCH) {
    const batch = ids.slice(i, i + CHUNK_BATCH)
    const missing: number[] = []
    batch.forEach((id, k) => {
      const known = walk.map.get(key(id))
      if (known !== undefined) out[i + k] = known
      else missing.push(k)
    })
    if (missing.length === 0) continue
    const loaded = await walk.source.loadBlobs(missing.map((k) => batch[k]! as BlobId))
    for (const [m, bytes] of loaded.entries()) {
      // Named as check names damage: the snapshot and path that cannot be copied.
      if (bytes instanceof Error) {
        const where = `${walk.snapshot}:${path.toString()}: ${bytes.message}`
        throw isPlakarError(bytes)
          ? new PlakarError(bytes.code, where, { cause: bytes })
          : new Error(where, { cause: bytes })
      }
      const k = missing[m]!
      const r = await walk.put.putBlob('data', bytes)
      walk.read += bytes.byteLength
      const peerId = Buffer.from(r.id)
      if (walk.map.size >= MAP_LIMIT) walk.map.clear()
      walk.map.set(key(batch[k]!), peerId)
      out[i + k] = peerId
    }
  }
  walk.progress.bytes += e.size
  return { ...e, content: await makeContent(walk.put, out) }
}
