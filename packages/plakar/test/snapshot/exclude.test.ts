import * as fs from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { archive, TreeReader, walk } from '@poolp/plakar'
import { Excludes } from '@poolp/plakar/snapshot'
import { describe, expect, it } from 'vitest'
import { memoryRepository } from './repo.js'

describe('-exclude patterns', () => {
  it('match names without a slash and absolute paths with one', () => {
    const x = new Excludes(['*.o', 'node_modules', '/home/*/.cache', '/srv/**/tmp', 'file[0-9].txt'])
    const t = (p: string) => x.excludes(Buffer.from(p), Buffer.from(p.slice(p.lastIndexOf('/') + 1)))
    expect(t('/src/main.o')).toBe(true)
    expect(t('/src/main.c')).toBe(false)
    expect(t('/app/node_modules')).toBe(true)
    expect(t('/home/me/.cache')).toBe(true)
    expect(t('/home/me/sub/.cache')).toBe(false)
    expect(t('/srv/a/b/tmp')).toBe(true)
    expect(t('/srv/tmp')).toBe(true)
    expect(t('/x/file7.txt')).toBe(true)
    expect(t('/x/fileA.txt')).toBe(false)
    expect(() => new Excludes([''])).toThrow(/empty -exclude pattern/)
  })

  it('leave excluded files and directories out of the snapshot', async () => {
    const dir = fs.mkdtempSync(join(tmpdir(), 'plakar-exclude-'))
    fs.mkdirSync(join(dir, 'node_modules/pkg'), { recursive: true })
    fs.writeFileSync(join(dir, 'node_modules/pkg/index.js'), 'x')
    fs.writeFileSync(join(dir, 'main.o'), 'x')
    fs.writeFileSync(join(dir, 'main.c'), 'x')
    const repo = await memoryRepository(null)
    try {
      const h = await archive(repo, { paths: [dir], excludes: ['node_modules', '*.o'] })
      const names: string[] = []
      for await (const [p] of walk(new TreeReader(repo), h.root, Buffer.from('/'))) names.push(p.toString())
      expect(names.filter((n) => n.startsWith(dir))).toEqual([dir, `${dir}/main.c`])
    } finally {
      await repo.close()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
