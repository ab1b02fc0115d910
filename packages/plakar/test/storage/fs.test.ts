import { mkdtempSync, rmSync, utimesSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ObjectKind } from '@poolp/plakar/storage'
import { afterAll, beforeAll } from 'vitest'
import { storeConformance } from './conformance.js'

// Made before the tests, not at import: a run that filters every test out leaves nothing behind.
let dir = ''
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'plakar-fs-conformance-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Where fs layout 1 keeps an object (docs/plakar-storage.md). */
function objectPath(location: string, kind: ObjectKind, name: string): string {
  const root = decodeURIComponent(new URL(location).pathname)
  const dirs = {
    config: 'config',
    key: 'keys',
    pack: 'packs',
    index: 'index',
    snapshot: 'snapshots',
    lock: 'locks',
  }
  return kind === 'pack' ? join(root, dirs[kind], name.slice(0, 2), name) : join(root, dirs[kind], name)
}

let n = 0
storeConformance('fs', {
  freshLocation: () => `fs://${dir}/repo-${n++}`,
  backdate: async (location, kind, name, mtime) => {
    utimesSync(objectPath(location, kind, name), mtime / 1000, mtime / 1000)
  },
})
