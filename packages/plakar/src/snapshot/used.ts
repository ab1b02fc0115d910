import type { Content, Entry } from './entry.js'
import type { TreeReader } from './tree.js'

/**
 * Every blob the tree at `root` uses: directory blobs (each page of a paged one), chunk-list
 * blobs and chunks, each yielded once per use (not deduplicated: the caller's set does that).
 * What a prune keeps. Reads only tree blobs (verified); a damaged one throws, and the caller
 * must then not delete anything on this walk's word.
 */
export async function* usedBlobs(reader: TreeReader, root: Entry): AsyncGenerator<Uint8Array> {
  if (root.kind === 'dir' && root.tree !== undefined) yield* dirBlobs(reader, root.tree)
  else if (root.content !== undefined) yield* contentBlobs(reader, root.content)
}

async function* dirBlobs(reader: TreeReader, tree: Buffer): AsyncGenerator<Uint8Array> {
  yield* reader.nodes(tree)
  for await (const e of reader.list(tree, { readAhead: true })) {
    if (e.kind === 'dir' && e.tree !== undefined) yield* dirBlobs(reader, e.tree)
    else if (e.content !== undefined) yield* contentBlobs(reader, e.content)
  }
}

async function* contentBlobs(reader: TreeReader, content: Content): AsyncGenerator<Uint8Array> {
  if ('lists' in content) yield* content.lists
  yield* reader.chunks(content)
}
