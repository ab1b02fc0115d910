import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { chrootProblem } from './chroot-check.js'
import { decodeCount, encodeCount } from './control.js'
import { prefixLines, setLogName } from './log.js'
import { roleArguments } from './role.js'
import { describeExit } from './supervisor.js'

describe('small parts', () => {
  it('describes how a child ended', () => {
    expect(describeExit(1, null)).toBe('exited with status 1')
    expect(describeExit(null, 'SIGKILL')).toBe('killed by signal SIGKILL')
  })

  it('pads the role arguments so the full title fits', () => {
    const [flag, pad] = roleArguments('scheduler', 'smtpd: scheduler')
    expect(flag).toBe('--privsep-child=scheduler')
    expect(pad!.trim()).toBe('')
    expect(pad!.length).toBeGreaterThan('smtpd: scheduler'.length)
  })

  it('prefixes every line of a message', () => {
    setLogName('queue')
    expect(prefixLines('a\nb')).toBe(`queue[${process.pid}]: a\nqueue[${process.pid}]: b\n`)
  })

  it('round-trips the GO count and refuses a short payload', () => {
    expect(decodeCount(encodeCount(5))).toBe(5)
    expect(() => decodeCount(new Uint8Array(3))).toThrow(/3 bytes, expected 4/)
  })

  it('accepts / and refuses a jail below a world-writable directory', () => {
    expect(chrootProblem('/')).toBeUndefined()
    expect(chrootProblem('/tmp')).toBe('chroot directory "/tmp" is writable by group or others')
    if (process.geteuid?.() !== 0) return
    const dir = mkdtempSync('/tmp/privsep-jail-')
    mkdirSync(`${dir}/jail`)
    try {
      expect(chrootProblem(`${dir}/jail`)).toBe(
        `chroot directory "${dir}/jail": "/tmp" is writable by group or others`,
      )
    } finally {
      rmSync(dir, { recursive: true })
    }
  })
})
