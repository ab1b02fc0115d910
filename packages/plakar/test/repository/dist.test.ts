import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tempDir } from './helpers.js'

const run = promisify(execFile)
const dist = fileURLToPath(new URL('../../dist', import.meta.url))
const built = existsSync(join(dist, 'archive-worker.js')) && existsSync(join(dist, 'archive-worker.cjs'))

let dir: ReturnType<typeof tempDir>
let file: string
let data: Buffer
beforeAll(() => {
  dir = tempDir()
  file = join(dir.path, 'input')
  data = Buffer.concat([randomBytes(3 << 20), Buffer.alloc(1 << 20, 'a')])
  writeFileSync(file, data)
})
afterAll(() => dir.remove())

// `pnpm test` builds first; a bare `vitest run` on a fresh clone has no dist/ to check.
describe.skipIf(!built)('the built package (dist/) runs its pipeline workers', () => {
  it.each(['check.mjs', 'check.cjs'])('%s', async (script) => {
    const path = fileURLToPath(new URL(`./dist/${script}`, import.meta.url))
    const { stdout } = await run(process.execPath, [path, dist, file], { timeout: 60_000 })
    const r = JSON.parse(stdout)
    expect(r.size).toBe(data.length)
    expect(r.sha256).toBe(createHash('sha256').update(data).digest('hex'))
  })
})
