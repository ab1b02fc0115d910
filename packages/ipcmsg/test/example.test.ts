import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

describe('the README example (examples/pingpong.ts)', () => {
  it('runs as written', () => {
    const script = fileURLToPath(new URL('../examples/pingpong.ts', import.meta.url))
    const out = execFileSync(process.execPath, ['--conditions=@poolp/source', '--import', 'tsx', script], {
      encoding: 'utf8',
      timeout: 20_000,
    })
    expect(out).toBe('pong: 42 HELLO\nchild read: root\n')
  })
})
