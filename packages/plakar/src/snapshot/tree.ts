import { asArray, asBuffer, asId, asInt, corrupt, decode, encode, hex } from './codec.js'
import { type Content, type Entry, entryFromWire, entryToWire } from './entry.js'
import type { SnapshotBlobWriter, SnapshotRepository } from './repository-view.js'

/**
 * Directory blobs. A directory is a `tree` blob holding its entries sorted by name bytes:
 *   { v: 1, e: [entry, ...] }                        a leaf page (small directories are one)
 *   { v: 1, p: [[firstName, id, count], ...] }       an index over pages (or over indexes)
 * A directory whose encoded entries exceed PAGE_BYTES is split into leaf pages under an
 * index, so no blob grows with the directory and a name is found by loading one page per
 * level. Identical directories encode to identical bytes and so dedup across snapshots.
 */
export const TREE_VERSION = 1
export const PAGE_BYTES = 256 * 1024
export const INDEX_FANOUT = 4096
/** Files with more chunks than this keep them in chunk-list blobs of CHUNK_LIST_MAX ids. */
export const INLINE_CHUNKS = 64
export const CHUNK_LIST_MAX = 8192

type PageRef = [first: Buffer, id: Buffer, count: number]

/** Builds one directory blob from entries given in strictly increasing name order. */
export class DirWriter {
  /** Encoded entries of the open page: each entry is encoded once, pages are concatenations. */
  private page: Uint8Array[] = []
  private pageBytes = 0
  private pageFirst: Buffer | null = null
  private last: Buffer | null = null
  private readonly refs: PageRef[] = []

  constructor(private readonly writer: Pick<SnapshotBlobWriter, 'putBlob'>) {}

  async add(e: Entry): Promise<void> {
    if (this.last !== null && Buffer.compare(this.last, e.name) >= 0) {
      throw new Error(`DirWriter: entries out of order (${e.name.toString('hex')})`)
    }
    this.last = e.name
    const bytes = encode(entryToWire(e))
    if (this.page.length > 0 && this.pageBytes + bytes.length > PAGE_BYTES) await this.flushPage()
    if (this.page.length === 0) this.pageFirst = e.name
    this.page.push(bytes)
    this.pageBytes += bytes.length
  }

  /** Write the remaining blobs and return the directory's id. */
  async finish(): Promise<Buffer> {
    if (this.refs.length === 0) return this.putBytes(leafPage(this.page))
    if (this.page.length > 0) await this.flushPage()
    let level = this.refs
    for (;;) {
      if (level.length <= INDEX_FANOUT) return this.put({ v: TREE_VERSION, p: level })
      const next: PageRef[] = []
      for (let i = 0; i < level.length; i += INDEX_FANOUT) {
        const group = level.slice(i, i + INDEX_FANOUT)
        const id = await this.put({ v: TREE_VERSION, p: group })
        next.push([group[0]![0], id, group.reduce((n, r) => n + r[2], 0)])
      }
      level = next
    }
  }

  private async flushPage(): Promise<void> {
    const id = await this.putBytes(leafPage(this.page))
    this.refs.push([this.pageFirst!, id, this.page.length])
    this.page = []
    this.pageBytes = 0
  }

  private put(value: unknown): Promise<Buffer> {
    return this.putBytes(encode(value))
  }

  private async putBytes(bytes: Uint8Array): Promise<Buffer> {
    const r = await this.writer.putBlob('tree', bytes)
    return Buffer.from(r.id)
  }
}

/**
 * `{ v: 1, e: [entries] }` from entries already encoded: the same bytes msgpackr gives for
 * the whole map (map16 of 2, as msgpackr writes objects; fixstr keys; smallest array header),
 * without encoding twice.
 */
function leafPage(entries: readonly Uint8Array[]): Uint8Array {
  const n = entries.length
  const head =
    n < 16
      ? [0xde, 0x00, 0x02, 0xa1, 0x76, TREE_VERSION, 0xa1, 0x65, 0x90 | n]
      : n < 0x10000
        ? [0xde, 0x00, 0x02, 0xa1, 0x76, TREE_VERSION, 0xa1, 0x65, 0xdc, n >> 8, n & 0xff]
        : [
            0xde,
            0x00,
            0x02,
            0xa1,
            0x76,
            TREE_VERSION,
            0xa1,
            0x65,
            0xdd,
            n >>> 24,
            (n >> 16) & 0xff,
            (n >> 8) & 0xff,
            n & 0xff,
          ]
  return Buffer.concat([Uint8Array.from(head), ...entries])
}

/** Store a file's chunk ids inline or, past INLINE_CHUNKS, in chunk-list blobs. */
export async function makeContent(
  writer: Pick<SnapshotBlobWriter, 'putBlob'>,
  chunks: readonly Uint8Array[],
): Promise<Content> {
  const ids = chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength))
  if (ids.length <= INLINE_CHUNKS) return { chunks: ids }
  const lists: Buffer[] = []
  for (let i = 0; i < ids.length; i += CHUNK_LIST_MAX) {
    const r = await writer.putBlob('tree', encode({ v: TREE_VERSION, c: ids.slice(i, i + CHUNK_LIST_MAX) }))
    lists.push(Buffer.from(r.id))
  }
  return { lists }
}

type Node = { entries: Entry[] } | { refs: PageRef[] }

/** Entries ahead of a walk whose subdirectories are loaded meanwhile (list with readAhead). */
const READ_AHEAD = 32

/**
 * Reads directory blobs, keeping a few decoded nodes so that lookups along one path and
 * listings of neighbouring directories do not reload them. Memory is bounded by the cache
 * size times PAGE_BYTES, whatever the snapshot holds.
 */
export class TreeReader {
  private readonly cache = new Map<string, Node>()
  /** Nodes being loaded ahead of a walk (list with readAhead), until the walk takes them. */
  private readonly ahead = new Map<string, Promise<Node>>()

  constructor(
    readonly repository: SnapshotRepository,
    private readonly cacheSize = 32,
  ) {}

  /**
   * Every entry of a directory, in name order; names are checked strictly increasing.
   * With `readAhead` (a walk that goes into every subdirectory: a restore), the blobs of the
   * subdirectories among the next READ_AHEAD entries are loaded meanwhile, so that their
   * reads overlap instead of each waiting for the one before.
   */
  async *list(tree: Uint8Array, opts: { readAhead?: boolean } = {}): AsyncGenerator<Entry> {
    let last: Buffer | null = null
    for await (const e of this.walk(tree, 0, opts.readAhead === true)) {
      if (last !== null && Buffer.compare(last, e.name) >= 0) {
        throw corrupt(`directory ${hex(tree)}`, 'names out of order or repeated')
      }
      last = e.name
      yield e
    }
  }

  /** The entry called `name` in a directory, loading one page per level. */
  async lookup(tree: Uint8Array, name: Buffer): Promise<Entry | undefined> {
    let node = await this.node(tree)
    for (let depth = 0; ; depth++) {
      if ('entries' in node) {
        let lo = 0
        let hi = node.entries.length - 1
        while (lo <= hi) {
          const mid = (lo + hi) >> 1
          const c = Buffer.compare(node.entries[mid]!.name, name)
          if (c === 0) return node.entries[mid]
          if (c < 0) lo = mid + 1
          else hi = mid - 1
        }
        return undefined
      }
      if (depth > 8) throw corrupt(`directory ${hex(tree)}`, 'index too deep')
      let pick = -1
      for (let lo = 0, hi = node.refs.length - 1; lo <= hi; ) {
        const mid = (lo + hi) >> 1
        if (Buffer.compare(node.refs[mid]![0], name) <= 0) {
          pick = mid
          lo = mid + 1
        } else hi = mid - 1
      }
      if (pick < 0) return undefined
      node = await this.node(node.refs[pick]![1])
    }
  }

  /**
   * The ids of the blobs listing a directory reads: its own and, when it is paged, every
   * page's (what a check or a prune counts as used, besides chunks and chunk lists).
   */
  async *nodes(tree: Uint8Array): AsyncGenerator<Uint8Array> {
    yield* this.nodeIds(tree, 0)
  }

  private async *nodeIds(id: Uint8Array, depth: number): AsyncGenerator<Uint8Array> {
    if (depth > 8) throw corrupt(`directory ${hex(id)}`, 'index too deep')
    yield id
    const node = await this.node(id)
    if ('refs' in node) for (const ref of node.refs) yield* this.nodeIds(ref[1], depth + 1)
  }

  /** The chunk ids of a file, in order. */
  async *chunks(content: Content): AsyncGenerator<Buffer> {
    if ('chunks' in content) {
      yield* content.chunks
      return
    }
    for (const list of content.lists) {
      const what = `chunk list ${hex(list)}`
      const m = decode(await this.repository.getBlob(list), what)
      if (m.v !== TREE_VERSION) throw corrupt(what, `unknown version ${String(m.v)}`)
      for (const id of asArray(m.c, what, 'c')) yield asId(id, what, 'c')
    }
  }

  private async *walk(id: Uint8Array, depth: number, readAhead: boolean): AsyncGenerator<Entry> {
    if (depth > 8) throw corrupt(`directory ${hex(id)}`, 'index too deep')
    const node = await this.node(id)
    if ('entries' in node) {
      if (!readAhead) {
        yield* node.entries
        return
      }
      const entries = node.entries
      let ahead = 0
      for (let i = 0; i < entries.length; i++) {
        for (; ahead < entries.length && ahead <= i + READ_AHEAD; ahead++) {
          const e = entries[ahead]!
          if (e.kind === 'dir' && e.tree !== undefined) this.prefetch(e.tree)
        }
        yield entries[i]!
      }
      return
    }
    for (const ref of node.refs) yield* this.walk(ref[1], depth + 1, readAhead)
  }

  /** Start loading a node the walk will want soon; node() takes it from `ahead`. */
  private prefetch(id: Uint8Array): void {
    const key = hex(id)
    if (this.cache.has(key) || this.ahead.has(key)) return
    const p = this.load(id, key)
    p.catch(() => {}) // surfaced by node() when the walk gets there
    this.ahead.set(key, p)
  }

  private async node(id: Uint8Array): Promise<Node> {
    const key = hex(id)
    const hit = this.cache.get(key)
    if (hit !== undefined) {
      this.cache.delete(key)
      this.cache.set(key, hit)
      return hit
    }
    const pending = this.ahead.get(key)
    if (pending !== undefined) this.ahead.delete(key)
    const node = await (pending ?? this.load(id, key))
    this.cache.set(key, node)
    if (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value!)
    return node
  }

  private async load(id: Uint8Array, key: string): Promise<Node> {
    const what = `directory ${key}`
    const m = decode(await this.repository.getBlob(id), what)
    if (m.v !== TREE_VERSION) throw corrupt(what, `unknown version ${String(m.v)}`)
    let node: Node
    if (m.e !== undefined) node = { entries: asArray(m.e, what, 'e').map((w) => entryFromWire(w, what)) }
    else if (m.p !== undefined) {
      node = {
        refs: asArray(m.p, what, 'p').map((r) => {
          const a = asArray(r, what, 'p')
          return [asBuffer(a[0], what, 'p'), asId(a[1], what, 'p'), asInt(a[2], what, 'p')] as PageRef
        }),
      }
    } else throw corrupt(what, 'neither entries nor pages')
    return node
  }
}
