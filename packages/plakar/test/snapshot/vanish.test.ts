import * as fs from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ArchiveProgress, archive, locate, TreeReader } from '@poolp/plakar'
import type { WriterOptions } from '@poolp/plakar/repository'
import type { ReadableFile } from '@poolp/plakar/snapshot'
import { describe, expect, it } from 'vitest'
import { memoryRepository } from './repo.js'

describe('files that vanish during a backup', () => {
  it('are recorded as errors and the backup goes on', async () => {
    const dir = fs.mkdtempSync(join(tmpdir(), 'plakar-vanish-'))
    const names = Array.from({ length: 2000 }, (_, i) => `f${String(i).padStart(4, '0')}`)
    for (const n of names) fs.writeFileSync(join(dir, n), `${n}\n`)
    const repo = await memoryRepository(null)
    // Deterministic: the last hundred files are deleted after the walk listed and stat'ed
    // them, just before the writer is asked to read them (timing the deletion from outside
    // races with the workers, and the main thread's own sealing, on a busy machine).
    const doomed = new Set(names.slice(1900).map((n) => join(dir, n)))
    const writer = repo.writer.bind(repo)
    repo.writer = ((opts: WriterOptions<ReadableFile>) => {
      const w = writer(opts)
      const putFile = w.putFile.bind(w)
      w.putFile = (f) => {
        const path = Buffer.from(f.path).toString()
        if (doomed.has(path)) fs.rmSync(path)
        return putFile(f)
      }
      return w
    }) as typeof repo.writer
    try {
      const progress = new ArchiveProgress()
      const errors: string[] = []
      const h = await archive(repo, { paths: [dir], progress, onError: (p, m) => errors.push(`${p}: ${m}`) })
      // In the order the files failed: with several sealers, not always the walk's.
      expect(errors.sort()).toEqual(
        names.slice(1900).map((n) => `${join(dir, n)}: vanished during the backup`),
      )
      expect(h.counts.errors).toBe(100)
      expect(h.counts.files).toBe(1900)
      expect(progress.files).toBe(1900)
      expect(h.errors.map((e) => e.message)).toEqual(Array(100).fill('vanished during the backup'))
      const at = await locate(new TreeReader(repo), h, dir)
      expect(at.entry.count).toBe(1900)
    } finally {
      await repo.close()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
