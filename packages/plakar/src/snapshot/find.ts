import { hex } from './codec.js'
import type { TreeReader } from './tree.js'

/**
 * Finding files by name across snapshots. Results are remembered per directory blob, so a
 * directory that did not change between snapshots (same blob id) is searched once, however
 * many snapshots hold it: finding a name in N snapshots of a mostly unchanged tree costs
 * about one walk plus what changed.
 */
export interface Match {
  /** Path relative to the directory searched, bytes. */
  readonly path: Buffer
  readonly dir: boolean
}

/** Directories remembered at most; past this, directories are searched again. */
const MEMO_MAX = 200_000
const SLASH = Buffer.from('/')

export class NameFinder {
  private readonly memo = new Map<string, readonly Match[]>()

  constructor(
    private readonly reader: TreeReader,
    private readonly matches: (name: Buffer) => boolean,
  ) {}

  /** Every match below the directory blob `tree`, in name order, depth first. */
  async find(tree: Uint8Array): Promise<readonly Match[]> {
    const key = hex(tree)
    const known = this.memo.get(key)
    if (known !== undefined) return known
    const out: Match[] = []
    for await (const e of this.reader.list(tree)) {
      if (this.matches(e.name)) out.push({ path: e.name, dir: e.kind === 'dir' })
      if (e.kind === 'dir') {
        for (const m of await this.find(e.tree!))
          out.push({ path: Buffer.concat([e.name, SLASH, m.path]), dir: m.dir })
      }
    }
    if (this.memo.size < MEMO_MAX) this.memo.set(key, out)
    return out
  }
}
