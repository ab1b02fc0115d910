/**
 * Start-up cost: msgpackr (25-75 ms to load) is loaded by the first msgpack() codec, not by
 * importing ipcmsg. Checked on the built package, ESM and CJS, as users load it: a copy of
 * it where msgpackr cannot be found still imports and works until a msgpack codec is made.
 */
import { execFileSync } from 'node:child_process'
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const packageDir = fileURLToPath(new URL('..', import.meta.url))
const builds = { cjs: 'index.cjs', esm: 'index.js' } as const

/** Runs `body` after loading `entry` as `ipcmsg`; returns what it printed, parsed. */
function run(build: keyof typeof builds, entry: string, body: string): unknown {
  const args =
    build === 'cjs'
      ? ['-e', `const ipcmsg = require(${JSON.stringify(entry)});\n${body}`]
      : ['--input-type=module', '-e', `const ipcmsg = await import(${JSON.stringify(entry)});\n${body}`]
  // pnpm sets NODE_PATH to its store, where msgpackr would be found from anywhere.
  const env = { ...process.env, NODE_PATH: '' }
  return JSON.parse(execFileSync(process.execPath, args, { encoding: 'utf8', env }))
}

const roundTrip = `
  const [a, b] = ipcmsg.socketpair()
  ipcmsg.closeFd(a)
  ipcmsg.closeFd(b)
  let codec
  try {
    codec = ipcmsg.msgpack()
  } catch (err) {
    console.log(JSON.stringify({ error: err.code }))
    process.exit(0)
  }
  console.log(JSON.stringify(codec.decode(Buffer.from(codec.encode({ a: [1, 'x'] })))))
`

describe.skipIf(!existsSync(join(packageDir, 'dist/index.cjs')))('msgpackr is loaded on first use', () => {
  let copy: string

  beforeAll(() => {
    // The built package alone, in a directory with no node_modules above it.
    copy = mkdtempSync(join(tmpdir(), 'ipcmsg-lazy-'))
    cpSync(join(packageDir, 'dist'), join(copy, 'dist'), { recursive: true })
    mkdirSync(join(copy, 'build/Release'), { recursive: true })
    copyFileSync(join(packageDir, 'build/Release/ipcmsg.node'), join(copy, 'build/Release/ipcmsg.node'))
  })
  afterAll(() => rmSync(copy, { recursive: true, force: true }))

  for (const build of ['cjs', 'esm'] as const) {
    it(`${build}: imports without msgpackr, which only msgpack() needs`, () => {
      expect(run(build, join(copy, 'dist', builds[build]), roundTrip)).toEqual({ error: 'MODULE_NOT_FOUND' })
    })

    it(`${build}: the msgpack codec works where msgpackr is installed`, () => {
      expect(run(build, join(packageDir, 'dist', builds[build]), roundTrip)).toEqual({ a: [1, 'x'] })
    })
  }
})
