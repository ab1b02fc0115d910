import { mkdtempSync, rmSync, utimesSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll } from 'vitest'
import { storeConformance } from './conformance.js'
import { fsObjectPath } from './objects.js'

// Made before the tests, not at import: a run that filters every test out leaves nothing behind.
let dir = ''
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'plakar-fs-conformance-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

let n = 0
storeConformance('fs', {
  freshLocation: () => `fs://${dir}/repo-${n++}`,
  backdate: async (location, kind, name, mtime) => {
    utimesSync(
      fsObjectPath(decodeURIComponent(new URL(location).pathname), kind, name),
      mtime / 1000,
      mtime / 1000,
    )
  },
})
