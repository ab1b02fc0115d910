import type { Entry } from './entry.js'
import type { TreeReader } from './tree.js'

/**
 * Depth-first walk of a directory, yielding each entry with its path (bytes). Memory holds
 * one page per level, not the tree.
 */
export async function* walk(reader: TreeReader, dir: Entry, path: Buffer): AsyncGenerator<[Buffer, Entry]> {
  for await (const e of reader.list(dir.tree!)) {
    const p = joinPath(path, e.name)
    yield [p, e]
    if (e.kind === 'dir') yield* walk(reader, e, p)
  }
}

export function joinPath(dir: Buffer, name: Buffer): Buffer {
  return dir.length === 1 && dir[0] === 0x2f
    ? Buffer.concat([dir, name])
    : Buffer.concat([dir, Buffer.from('/'), name])
}
