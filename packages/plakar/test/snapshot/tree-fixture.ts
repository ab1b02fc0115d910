import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import { join } from 'node:path'
import { getAttributeSync, listAttributesSync, setAttributeSync } from '@napi-rs/xattr'

/**
 * A real tree with every kind of file the archiver handles: regular, empty, large, sparse,
 * directories (one empty, one read-only, one large), symlinks (relative, absolute, dangling),
 * hard links, a FIFO, odd and non-UTF-8 names, odd permissions, an extended attribute.
 */
export function makeTree(root: string, opts: { wide?: number } = {}): void {
  const b = (s: string) => Buffer.from(join(root, s))
  fs.mkdirSync(join(root, 'dir/sub/deeper'), { recursive: true })
  fs.mkdirSync(join(root, 'empty-dir'))
  fs.writeFileSync(join(root, 'hello.txt'), 'hello world\n')
  fs.writeFileSync(join(root, 'empty'), '')
  fs.writeFileSync(join(root, 'dir/sub/deeper/notes.md'), '# notes\n'.repeat(1000))
  const big = Buffer.alloc(3 * 1024 * 1024 + 123)
  for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24
  fs.writeFileSync(join(root, 'dir/large.bin'), big)
  // Sparse: data, a 4 MiB hole, data, then a trailing hole.
  const fd = fs.openSync(join(root, 'sparse.img'), 'w')
  fs.writeSync(fd, Buffer.from('head'), 0, 4, 0)
  fs.writeSync(fd, Buffer.from('middle'), 0, 6, 4 * 1024 * 1024)
  fs.ftruncateSync(fd, 12 * 1024 * 1024)
  fs.closeSync(fd)
  fs.symlinkSync('hello.txt', join(root, 'link-rel'))
  fs.symlinkSync('/etc/hostname', join(root, 'link-abs'))
  fs.symlinkSync('does/not/exist', join(root, 'link-dangling'))
  fs.linkSync(join(root, 'hello.txt'), join(root, 'dir/hard-link'))
  spawnSync('mkfifo', [join(root, 'fifo')])
  fs.writeFileSync(b('name with spaces & "quotes"'), 'odd\n')
  fs.writeFileSync(b('ünïcødé-日本'), 'utf8\n')
  fs.writeFileSync(
    Buffer.concat([Buffer.from(`${root}/latin1-`), Buffer.from([0xe9, 0xff, 0x01]), Buffer.from('.txt')]),
    'bytes\n',
  )
  fs.writeFileSync(join(root, '-starts-with-dash'), 'dash\n')
  fs.writeFileSync(join(root, 'exec.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 })
  fs.writeFileSync(join(root, 'private'), 'secret\n', { mode: 0o600 })
  fs.writeFileSync(join(root, 'setgid-file'), 'x\n')
  fs.chmodSync(join(root, 'setgid-file'), 0o2755)
  fs.mkdirSync(join(root, 'readonly-dir'))
  fs.writeFileSync(join(root, 'readonly-dir/inside'), 'ro\n')
  fs.chmodSync(join(root, 'readonly-dir'), 0o555)
  fs.mkdirSync(join(root, 'wide'))
  for (let i = 0; i < (opts.wide ?? 3000); i++)
    fs.writeFileSync(join(root, `wide/file-${String(i).padStart(5, '0')}-${'x'.repeat(60)}`), `${i}\n`)
  setAttributeSync(join(root, 'hello.txt'), 'user.plakar', Buffer.from('kept'))
  fs.utimesSync(
    join(root, 'hello.txt'),
    new Date('2021-11-27T00:12:04.123Z'),
    new Date('2021-11-27T00:12:04.123Z'),
  )
}

/**
 * Differences between two trees, by content and metadata (kind, mode, owner, mtime to the
 * microsecond, symlink targets, hard-link groups, sparseness, extended attributes).
 * Names are compared as bytes. Directory mtimes are compared too.
 */
export function compareTrees(a: string, b: string, opts: { owners?: boolean } = {}): string[] {
  const out: string[] = []
  const linksA = new Map<string, string>()
  const linksB = new Map<string, string>()
  const visit = (pa: Buffer, pb: Buffer, rel: string) => {
    const sa = fs.lstatSync(pa, { bigint: true })
    const sb = fs.lstatSync(pb, { bigint: true, throwIfNoEntry: false })
    if (sb === undefined) return void out.push(`${rel}: missing`)
    if ((sa.mode & 0o170000n) !== (sb.mode & 0o170000n)) return void out.push(`${rel}: kind differs`)
    if (!sa.isSymbolicLink() && sa.mode !== sb.mode)
      out.push(`${rel}: mode ${sa.mode.toString(8)} != ${sb.mode.toString(8)}`)
    if (opts.owners && (sa.uid !== sb.uid || sa.gid !== sb.gid)) out.push(`${rel}: owner differs`)
    const dt = sa.mtimeNs - sb.mtimeNs
    // Node sets times from a double: a few microseconds of rounding are all it can do.
    if (dt > 10_000n || dt < -10_000n) out.push(`${rel}: mtime ${sa.mtimeNs} != ${sb.mtimeNs}`)
    if (sa.isFile()) {
      if (!fs.readFileSync(pa).equals(fs.readFileSync(pb))) out.push(`${rel}: content differs`)
      if (sa.blocks * 512n < sa.size !== sb.blocks * 512n < sb.size) out.push(`${rel}: sparseness differs`)
      if (sa.nlink > 1n) {
        const ka = `${sa.ino}`
        const kb = `${sb.ino}`
        if (linksA.has(ka) !== linksB.has(kb) || (linksA.has(ka) && linksA.get(ka) !== linksB.get(kb)))
          out.push(`${rel}: hard link differs`)
        linksA.set(ka, rel)
        linksB.set(kb, rel)
      }
    }
    if (
      sa.isSymbolicLink() &&
      !fs.readlinkSync(pa, { encoding: 'buffer' }).equals(fs.readlinkSync(pb, { encoding: 'buffer' }))
    )
      out.push(`${rel}: symlink target differs`)
    if ((sa.isFile() || sa.isDirectory()) && xattrs(pa) !== xattrs(pb)) out.push(`${rel}: xattrs differ`)
    if (sa.isDirectory()) {
      const na = fs.readdirSync(pa, { encoding: 'buffer' }).sort(Buffer.compare)
      const nb = fs.readdirSync(pb, { encoding: 'buffer' }).sort(Buffer.compare)
      if (na.length !== nb.length || na.some((n, i) => !n.equals(nb[i]!))) out.push(`${rel}: names differ`)
      for (const n of na)
        visit(
          Buffer.concat([pa, Buffer.from('/'), n]),
          Buffer.concat([pb, Buffer.from('/'), n]),
          `${rel}/${n.toString('latin1')}`,
        )
    }
  }
  visit(Buffer.from(a), Buffer.from(b), '.')
  return out
}

function xattrs(p: Buffer): string {
  const s = p.toString()
  if (!Buffer.from(s).equals(p)) return ''
  return listAttributesSync(s)
    .sort()
    .map((n) => `${n}=${getAttributeSync(s, n)?.toString('hex')}`)
    .join(',')
}
