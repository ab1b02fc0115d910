import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  closeFd,
  dupFd,
  fdKind,
  getgrgid,
  getgrnam,
  getgrouplist,
  getpwnam,
  getpwuid,
  setCloexec,
  socketpair,
} from '@poolp/ipcmsg'
import { describe, expect, it } from 'vitest'

describe('user and group lookup', () => {
  it('finds root and misses a name that does not exist', () => {
    expect(getpwnam('root')).toMatchObject({ name: 'root', uid: 0, gid: 0, dir: '/root' })
    expect(getpwuid(0)?.name).toBe('root')
    expect(getpwnam('no-such-user-ipcmsg')).toBeUndefined()
    expect(getpwuid(4_000_000_000)).toBeUndefined()
    expect(getgrnam('root')).toMatchObject({ name: 'root', gid: 0 })
    expect(getgrgid(0)?.name).toBe('root')
    expect(getgrnam('no-such-group-ipcmsg')).toBeUndefined()
  })

  it('lists every group of a user, the given gid included', () => {
    const nobody = getpwnam('nobody')!
    expect(getgrouplist('nobody', nobody.gid)).toContain(nobody.gid)
    expect(getgrouplist('root', 12345)).toContain(12345)
  })

  it('rejects bad arguments with a clear error', () => {
    expect(() => getpwnam('a\0b')).toThrow(/NUL/)
    expect(() => getpwuid(-1)).toThrow(/numeric id/)
  })
})

describe('descriptors', () => {
  it('makes socketpairs, dups them, and flips close-on-exec', () => {
    const [a, b] = socketpair()
    expect(fdKind(a)).toBe('socket')
    const c = dupFd(a)
    expect(c).not.toBe(a)
    setCloexec(c, false)
    setCloexec(c, true)
    for (const fd of [a, b, c]) closeFd(fd)
    expect(() => fdKind(a)).toThrow(/EBADF|Bad file descriptor/)
  })
})

describe.skipIf(process.getuid?.() !== 0)('chroot (needs root)', () => {
  it('confines a child process to a directory', () => {
    const jail = mkdtempSync(join(tmpdir(), 'ipcmsg-jail-'))
    writeFileSync(join(jail, 'inside'), 'yes')
    const index = fileURLToPath(new URL('../src/index.ts', import.meta.url))
    const script = `
      import { chroot } from ${JSON.stringify(index)}
      import { existsSync, readFileSync } from 'node:fs'
      chroot(${JSON.stringify(jail)})
      process.chdir('/')
      console.log(readFileSync('/inside', 'utf8'), existsSync('/etc/passwd'), process.cwd())
    `
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
    })
    expect(out.trim()).toBe('yes false /')
    rmSync(jail, { recursive: true })
  })

  it('reports a missing directory as a system error', async () => {
    const { chroot } = await import('@poolp/ipcmsg')
    expect(() => chroot('/no/such/dir/ipcmsg')).toThrow(
      expect.objectContaining({ code: 'ENOENT', syscall: 'chdir' }),
    )
  })
})
