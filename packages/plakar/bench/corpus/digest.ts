/**
 * A digest of a directory tree's names, kinds, symlink targets and file bytes, so that a
 * restore can be checked against its source without trusting the tool that made it.
 * Modes, owners and times are left out: the tools compared restore them differently.
 */
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

export interface TreeSummary {
  readonly files: number
  readonly dirs: number
  readonly links: number
  readonly bytes: number
  readonly digest: string
}

export function digestTree(root: string): TreeSummary {
  const hash = createHash('sha256')
  const counts = { files: 0, dirs: 0, links: 0, bytes: 0 }
  const buf = Buffer.allocUnsafe(1 << 20)
  const walk = (rel: string): void => {
    const names = fs.readdirSync(path.join(root, rel)).sort()
    for (const name of names) {
      const relPath = rel ? `${rel}/${name}` : name
      const abs = path.join(root, relPath)
      const st = fs.lstatSync(abs)
      if (st.isDirectory()) {
        counts.dirs++
        hash.update(`d ${relPath}\n`)
        walk(relPath)
      } else if (st.isSymbolicLink()) {
        counts.links++
        hash.update(`l ${relPath} ${fs.readlinkSync(abs)}\n`)
      } else if (st.isFile()) {
        counts.files++
        counts.bytes += st.size
        hash.update(`f ${relPath} ${st.size}\n`)
        const fd = fs.openSync(abs, 'r')
        try {
          for (let n = fs.readSync(fd, buf); n > 0; n = fs.readSync(fd, buf)) hash.update(buf.subarray(0, n))
        } finally {
          fs.closeSync(fd)
        }
      } else {
        hash.update(`o ${relPath}\n`)
      }
    }
  }
  walk('')
  return { ...counts, digest: hash.digest('hex') }
}
