import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll } from 'vitest'
import { storeConformance } from './conformance.js'

// Made before the tests, not at import: a run that filters every test out leaves nothing behind.
let dir = ''
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'plakar-sqlite-conformance-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

let n = 0
storeConformance('sqlite', {
  freshLocation: () => `sqlite://${dir}/repo-${n++}.db`,
  backdate: async (location, kind, name, mtime) => {
    const db = new Database(decodeURIComponent(new URL(location).pathname))
    try {
      db.prepare('UPDATE objects SET mtime = ? WHERE kind = ? AND name = ?').run(mtime, kind, name)
    } finally {
      db.close()
    }
  },
})
