import * as fs from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ArchiveProgress, archive, encodeHeader, locate, TreeReader } from '@poolp/plakar'
import { describe, expect, it } from 'vitest'
import { memoryRepository } from './repo.js'

describe('files that vanish during a backup', () => {
  it('are recorded as errors and the backup goes on', async () => {
    const dir = fs.mkdtempSync(join(tmpdir(), 'plakar-vanish-'))
    const names = Array.from({ length: 2000 }, (_, i) => `f${String(i).padStart(4, '0')}`)
    for (const n of names) fs.writeFileSync(join(dir, n), `${n}\n`)
    const repo = await memoryRepository(null)
    try {
      const progress = new ArchiveProgress()
      const errors: string[] = []
      const running = archive(repo, { paths: [dir], progress, onError: (p, m) => errors.push(`${p}: ${m}`) })
      // Once the first files are stored, the walker is a few hundred files in (256 in flight):
      // the last hundred were listed and stat'ed but not opened yet. Delete them now.
      while (progress.files === 0) await new Promise((r) => setImmediate(r))
      for (const n of names.slice(1900)) fs.rmSync(join(dir, n))
      const h = await running
      expect(errors).toEqual(names.slice(1900).map((n) => `${join(dir, n)}: vanished during the backup`))
      expect(h.counts.errors).toBe(100)
      expect(h.counts.files).toBe(1900)
      expect(h.errors.map((e) => e.message)).toEqual(Array(100).fill('vanished during the backup'))
      await repo.putSnapshot(h.uuid, encodeHeader(h))
      const at = await locate(new TreeReader(repo), h, dir)
      expect(at.entry.count).toBe(1900)
    } finally {
      await repo.close()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
