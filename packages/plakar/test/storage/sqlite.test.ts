import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll } from 'vitest'
import { storeConformance } from './conformance.js'

const dir = mkdtempSync(join(tmpdir(), 'plakar-sqlite-conformance-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

let n = 0
storeConformance('sqlite', { freshLocation: () => `sqlite://${dir}/repo-${n++}.db` })
