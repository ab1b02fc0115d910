import type { Content, Entry } from './entry.js'
import type { TreeReader } from './tree.js'

export interface UsedBlobOptions {
  /**
   * Called with a directory's blob id before it is walked; false skips it. A directory's id
   * names its whole subtree (every entry, and through them every subdirectory's id), so a
   * caller that has walked it once, in this snapshot or another, may skip it: snapshots of
   * one tree share nearly all their directories. Default: walk every one.
   */
  readonly firstVisit?: (tree: Buffer) => boolean
}

/**
 * Every blob the tree at `root` uses: directory blobs (each page of a paged one), chunk-list
 * blobs and chunks, each given to `visit` once per use (not deduplicated: the caller's set
 * does that), in walk order. What a prune keeps. Reads only tree blobs (verified); a damaged
 * one throws, and the caller must then not delete anything on this walk's word. A callback
 * rather than a generator: a million files are millions of ids, and each step through nested
 * async generators costs a promise per level.
 */
export async function forEachUsedBlob(
  reader: TreeReader,
  root: Entry,
  visit: (id: Uint8Array) => void,
  opts: UsedBlobOptions = {},
): Promise<void> {
  const first = opts.firstVisit ?? (() => true)
  const content = async (c: Content): Promise<void> => {
    if ('chunks' in c) {
      for (const id of c.chunks) visit(id)
      return
    }
    for (const id of c.lists) visit(id)
    for await (const id of reader.chunks(c)) visit(id)
  }
  const dir = async (tree: Buffer): Promise<void> => {
    if (!first(tree)) return
    for await (const id of reader.nodes(tree)) visit(id)
    for await (const e of reader.list(tree, { readAhead: true })) {
      if (e.kind === 'dir' && e.tree !== undefined) await dir(e.tree)
      else if (e.content !== undefined) await content(e.content)
    }
  }
  if (root.kind === 'dir' && root.tree !== undefined) await dir(root.tree)
  else if (root.content !== undefined) await content(root.content)
}
