import type { Entry } from './entry.js'
import type { TreeReader } from './tree.js'
import { joinPath } from './walk.js'

/**
 * Differences between two directories of (possibly different) snapshots. Directories with
 * the same blob id are identical and are skipped without loading: a diff of two snapshots
 * of a mostly unchanged tree loads only the changed paths.
 */
export type Change = { readonly op: '+' | '-' | '~'; readonly path: Buffer; readonly entry: Entry }

export async function* diffDirs(
  reader: TreeReader,
  a: Entry,
  b: Entry,
  path: Buffer,
): AsyncGenerator<Change> {
  if (a.tree !== undefined && b.tree !== undefined && a.tree.equals(b.tree)) return
  const ia = reader.list(a.tree!)[Symbol.asyncIterator]()
  const ib = reader.list(b.tree!)[Symbol.asyncIterator]()
  let na = await ia.next()
  let nb = await ib.next()
  while (!na.done || !nb.done) {
    const c = na.done ? 1 : nb.done ? -1 : Buffer.compare(na.value.name, nb.value.name)
    if (c < 0) {
      yield { op: '-', path: joinPath(path, na.value!.name), entry: na.value! }
      na = await ia.next()
    } else if (c > 0) {
      yield { op: '+', path: joinPath(path, nb.value!.name), entry: nb.value! }
      nb = await ib.next()
    } else {
      const ea = na.value!
      const eb = nb.value!
      const p = joinPath(path, ea.name)
      if (ea.kind !== eb.kind) {
        yield { op: '-', path: p, entry: ea }
        yield { op: '+', path: p, entry: eb }
      } else if (ea.kind === 'dir') {
        if (sameMeta(ea, eb) === false) yield { op: '~', path: p, entry: eb }
        yield* diffDirs(reader, ea, eb, p)
      } else if (!sameEntry(ea, eb)) yield { op: '~', path: p, entry: eb }
      na = await ia.next()
      nb = await ib.next()
    }
  }
}

function sameMeta(a: Entry, b: Entry): boolean {
  return a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && a.mtimeNs === b.mtimeNs
}

/** Same kind of content and metadata (for directories: metadata only). */
export function sameEntry(a: Entry, b: Entry): boolean {
  if (!sameMeta(a, b) || a.size !== b.size || a.rdev !== b.rdev) return false
  if (a.target !== undefined && (b.target === undefined || !a.target.equals(b.target))) return false
  const ca = a.content
  const cb = b.content
  if (ca === undefined || cb === undefined) return ca === cb
  const ia = 'chunks' in ca ? ca.chunks : ca.lists
  const ib = 'chunks' in cb ? cb.chunks : cb.lists
  return ia.length === ib.length && ia.every((id, i) => id.equals(ib[i]!))
}
