import { SnapshotError } from '../errors.js'

/**
 * -exclude patterns, shell-glob style: `*` and `?` match within one path component, `**`
 * matches across components, `[abc]` is a class. A pattern without `/` is matched against
 * the name of each file and directory (`*.o`, `node_modules`); a pattern with `/` against
 * the whole absolute path (`/home/*\/.cache`). An excluded directory is not entered.
 */
export class Excludes {
  private readonly byName: RegExp[] = []
  private readonly byPath: RegExp[] = []

  constructor(patterns: readonly string[]) {
    for (const p of patterns) {
      if (p === '') throw new SnapshotError('SNAPSHOT_SOURCE', 'empty -exclude pattern')
      const re = globToRegExp(p)
      if (p.includes('/')) this.byPath.push(re)
      else this.byName.push(re)
    }
  }

  get empty(): boolean {
    return this.byName.length === 0 && this.byPath.length === 0
  }

  excludes(path: Buffer, name: Buffer): boolean {
    if (this.empty) return false
    if (this.byName.length > 0) {
      const n = name.toString()
      if (this.byName.some((re) => re.test(n))) return true
    }
    if (this.byPath.length > 0) {
      const p = path.toString()
      if (this.byPath.some((re) => re.test(p))) return true
    }
    return false
  }
}

function globToRegExp(glob: string): RegExp {
  let re = '^'
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!
    if (c === '*') {
      if (glob[i + 1] === '*') {
        re += '.*'
        i++
        if (glob[i + 1] === '/') i++
      } else re += '[^/]*'
    } else if (c === '?') re += '[^/]'
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2)
      if (end < 0) throw new SnapshotError('SNAPSHOT_SOURCE', `-exclude pattern ${glob}: unclosed [`)
      let cls = glob.slice(i + 1, end).replace(/\\/g, '\\\\')
      if (cls.startsWith('!')) cls = `^${cls.slice(1)}`
      re += `[${cls}]`
      i = end
    } else re += c.replace(/[.+^${}()|\\\]]/g, '\\$&')
  }
  return new RegExp(`${re}$`, 's')
}
