import { createRequire } from 'node:module'

/**
 * Extended attributes, through @napi-rs/xattr (Node has no xattr API). Its calls take
 * string paths, so a path that is not valid UTF-8 cannot be named to it: such files are
 * backed up without their attributes. Symlinks are never asked (the package would follow
 * them). When the native package cannot load, attributes are skipped everywhere.
 */
interface XattrApi {
  listAttributesSync(path: string): string[]
  getAttributeSync(path: string, name: string): Buffer | null
  setAttributeSync(path: string, name: string, value: Uint8Array): void
}

let api: XattrApi | null | undefined

function load(): XattrApi | null {
  if (api === undefined) {
    try {
      api = createRequire(import.meta.url)('@napi-rs/xattr') as XattrApi
    } catch {
      api = null
    }
  }
  return api
}

function utf8Path(path: Buffer): string | null {
  const s = path.toString()
  return Buffer.from(s).equals(path) ? s : null
}

/** The attributes of a file or directory, sorted by name; [] when none or unavailable. */
export function readXattrs(path: Buffer): [Buffer, Buffer][] {
  const x = load()
  const p = utf8Path(path)
  if (x === null || p === null) return []
  try {
    const names = x.listAttributesSync(p).sort()
    const out: [Buffer, Buffer][] = []
    for (const n of names) {
      const v = x.getAttributeSync(p, n)
      if (v !== null) out.push([Buffer.from(n), Buffer.from(v)])
    }
    return out
  } catch {
    return []
  }
}

/** Set attributes; returns the names that could not be set (e.g. trusted.* when not root). */
export function writeXattrs(path: Buffer, xattrs: readonly (readonly [Buffer, Buffer])[]): string[] {
  const x = load()
  const p = utf8Path(path)
  if (xattrs.length === 0) return []
  if (x === null || p === null) return xattrs.map(([n]) => n.toString())
  const failed: string[] = []
  for (const [n, v] of xattrs) {
    try {
      x.setAttributeSync(p, n.toString(), v)
    } catch {
      failed.push(n.toString())
    }
  }
  return failed
}
