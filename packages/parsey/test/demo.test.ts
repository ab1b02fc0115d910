import { execFileSync } from 'node:child_process'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const pkg = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')

describe('the demo (the main job until plakar exists)', () => {
  it('prints the typed smtpd configuration and the report for the bad file, and exits 0', () => {
    const out = execFileSync(
      process.execPath,
      ['--conditions=@poolp/source', '--import', 'tsx', 'examples/demo.ts'],
      {
        cwd: pkg,
        encoding: 'utf8',
      },
    )
    expect(out).toContain('"outbound": {')
    expect(out).toContain(
      '3 listeners, 4 tables, 3 actions, 6 match rules; queue ttl 96h, max message size 35M',
    )
    expect(out).toContain('line 18: block in on vio0 proto *')
    expect(out).toContain(
      "examples/smtpd/bad-smtpd.conf:6:23: expected integer between 1 and 65535 after 'port', found '99999'\nlisten on egress port 99999 tls\n                      ^",
    )
    expect(out).toContain('9 errors; a daemon would print that and exit 1.')
  })
})
