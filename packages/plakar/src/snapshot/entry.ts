import { asArray, asBigInt, asBuffer, asId, asInt, corrupt } from './codec.js'

/**
 * An entry is one name in a directory of a snapshot, with its metadata. Names are raw
 * bytes (a Buffer): whatever the filesystem held, UTF-8 or not, is kept byte-exact.
 */
export const ENTRY_KINDS = ['file', 'dir', 'symlink', 'fifo', 'chardev', 'blockdev', 'socket'] as const
export type EntryKind = (typeof ENTRY_KINDS)[number]

/**
 * A file's content: the ordered ids of its chunks, inline when few, otherwise the ids of
 * chunk-list blobs (each a `tree` blob listing up to CHUNK_LIST_MAX ids) so that no
 * directory blob grows with the size of a file.
 */
export type Content = { readonly chunks: readonly Buffer[] } | { readonly lists: readonly Buffer[] }

export interface Entry {
  readonly name: Buffer
  readonly kind: EntryKind
  /** Permission bits, with setuid, setgid and sticky (st_mode & 0o7777). */
  readonly mode: number
  readonly uid: number
  readonly gid: number
  /** Modification time in nanoseconds since the epoch. */
  readonly mtimeNs: bigint
  /** file: its size; dir: the bytes of every regular file below it; others: 0. */
  readonly size: number
  /** file: its content. */
  readonly content?: Content
  /** file: SHA-256 of its whole content as read (snapshot format 2; absent in format 1). */
  readonly digest?: Buffer
  /** file: true when it had holes (fewer blocks than its size); zero chunks restore as holes. */
  readonly sparse?: boolean
  /** file with several links: [device, inode] shared by the names of one inode in this snapshot. */
  readonly link?: readonly [number, number]
  /** dir: its directory blob. */
  readonly tree?: Buffer
  /** dir: the number of entries below it, at every depth. */
  readonly count?: number
  /** symlink: the target, bytes. */
  readonly target?: Buffer
  /** chardev / blockdev: st_rdev. */
  readonly rdev?: number
  /** Extended attributes, sorted by name. */
  readonly xattrs?: readonly (readonly [Buffer, Buffer])[]
}

/** Encode an entry as a map with a fixed key order and only the fields it has. */
export function entryToWire(e: Entry): Record<string, unknown> {
  const w: Record<string, unknown> = {
    n: e.name,
    k: ENTRY_KINDS.indexOf(e.kind),
    m: e.mode,
    u: e.uid,
    g: e.gid,
    t: e.mtimeNs,
    s: e.size,
  }
  if (e.content !== undefined) {
    if ('chunks' in e.content) w.c = e.content.chunks
    else w.cl = e.content.lists
  }
  if (e.digest !== undefined) w.h = e.digest
  if (e.sparse) w.sp = true
  if (e.link !== undefined) w.l = e.link
  if (e.tree !== undefined) w.d = e.tree
  if (e.count !== undefined) w.dc = e.count
  if (e.target !== undefined) w.y = e.target
  if (e.rdev !== undefined) w.r = e.rdev
  if (e.xattrs !== undefined && e.xattrs.length > 0) w.x = e.xattrs
  return w
}

export function entryFromWire(v: unknown, what: string): Entry {
  if (typeof v !== 'object' || v === null) throw corrupt(what, 'entry is not a map')
  const w = v as Record<string, unknown>
  const kind = ENTRY_KINDS[asInt(w.k, what, 'k')]
  if (kind === undefined) throw corrupt(what, `unknown entry kind ${String(w.k)}`)
  const e: {
    -readonly [K in keyof Entry]: Entry[K]
  } = {
    name: asBuffer(w.n, what, 'n'),
    kind,
    mode: asInt(w.m, what, 'm'),
    uid: asInt(w.u, what, 'u'),
    gid: asInt(w.g, what, 'g'),
    mtimeNs: asBigInt(w.t, what, 't'),
    size: asInt(w.s, what, 's'),
  }
  if (w.c !== undefined) e.content = { chunks: asArray(w.c, what, 'c').map((id) => asId(id, what, 'c')) }
  else if (w.cl !== undefined)
    e.content = { lists: asArray(w.cl, what, 'cl').map((id) => asId(id, what, 'cl')) }
  if (w.h !== undefined) e.digest = asId(w.h, what, 'h')
  if (w.sp === true) e.sparse = true
  if (w.l !== undefined) {
    const l = asArray(w.l, what, 'l')
    e.link = [asInt(l[0], what, 'l'), asInt(l[1], what, 'l')]
  }
  if (w.d !== undefined) e.tree = asId(w.d, what, 'd')
  if (w.dc !== undefined) e.count = asInt(w.dc, what, 'dc')
  if (w.y !== undefined) e.target = asBuffer(w.y, what, 'y')
  if (w.r !== undefined) e.rdev = asInt(w.r, what, 'r')
  if (w.x !== undefined) {
    e.xattrs = asArray(w.x, what, 'x').map((pair) => {
      const p = asArray(pair, what, 'x')
      return [asBuffer(p[0], what, 'x'), asBuffer(p[1], what, 'x')] as const
    })
  }
  if (kind === 'dir' && e.tree === undefined) throw corrupt(what, 'directory entry without a tree')
  if (kind === 'file' && e.content === undefined) throw corrupt(what, 'file entry without content')
  if (kind === 'symlink' && e.target === undefined) throw corrupt(what, 'symlink entry without a target')
  return e
}

/**
 * A name a restore may create: one path component, not empty, not `.` or `..`, without `/`
 * or NUL. Anything else in a snapshot is crafted or damaged.
 */
export function isSafeName(name: Uint8Array): boolean {
  if (name.length === 0 || name.length > 255) return false
  if (name.length === 1 && name[0] === 0x2e) return false
  if (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e) return false
  return !name.includes(0x2f) && !name.includes(0)
}
