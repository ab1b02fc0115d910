import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { constants, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  closeFd,
  dupFd,
  fdKind,
  getgrgid,
  getgrnam,
  getgrouplist,
  getParentDeathSignal,
  getppid,
  getpwnam,
  getpwuid,
  setCloexec,
  setParentDeathSignal,
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

/** Alive and not a zombie (an orphan's reaper may be slow to reap it). */
function isAlive(pid: number): boolean {
  try {
    const state = /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
    return state !== undefined && state !== 'Z' && state !== 'X'
  } catch {
    return false
  }
}

/**
 * Starts test/peers/orphan.ts: a parent and a child that set `signal` as its parent-death
 * signal and then blocks its event loop. Resolves once the child reported itself.
 */
async function orphanFamily(signal: string) {
  const peer = fileURLToPath(new URL('./peers/orphan.ts', import.meta.url))
  const parent = spawn(
    process.execPath,
    ['--conditions=@poolp/source', '--import', 'tsx', peer, 'parent', signal],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  let out = ''
  const line = await new Promise<string>((resolve, reject) => {
    parent.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d
      if (out.includes('\n')) resolve(out.split('\n')[0]!)
    })
    parent.on('exit', (code) => reject(new Error(`the parent exited (${code}) before its child reported`)))
  })
  const [pid, set, ppid] = line.split(' ').map(Number) as [number, number, number]
  return { parent, pid, set, ppid }
}

describe('parent-death signal', () => {
  it('sets, reads back and clears the signal; getppid() is live', () => {
    // The vitest worker keeps no setting: it is cleared again before the test ends.
    expect(getParentDeathSignal()).toBe(0)
    setParentDeathSignal('SIGTERM')
    expect(getParentDeathSignal()).toBe(constants.signals.SIGTERM)
    setParentDeathSignal(0)
    expect(getParentDeathSignal()).toBe(0)
    expect(getppid()).toBe(process.ppid)
  })

  it('refuses a signal that does not exist', () => {
    expect(() => setParentDeathSignal('SIGNOPE' as NodeJS.Signals)).toThrow(/unknown signal SIGNOPE/)
    expect(() => setParentDeathSignal(1000)).toThrow(/signal number/)
  })

  for (let round = 1; round <= 3; round++) {
    it(`round ${round}: a child with a blocked event loop dies with its parent (SIGKILL)`, async () => {
      const { parent, pid, set, ppid } = await orphanFamily('SIGKILL')
      expect(set).toBe(constants.signals.SIGKILL)
      expect(ppid).toBe(parent.pid)
      process.kill(parent.pid!, 'SIGKILL')
      const start = performance.now()
      while (isAlive(pid) && performance.now() - start < 2000) await new Promise((r) => setTimeout(r, 10))
      const alive = isAlive(pid)
      if (alive) process.kill(pid, 'SIGKILL')
      expect(alive, `child ${pid} still alive 2 s after its parent was killed`).toBe(false)
    })
  }

  it('without it, the same child outlives its parent (what the test above would see)', async () => {
    const { parent, pid, set } = await orphanFamily('0')
    expect(set).toBe(0)
    process.kill(parent.pid!, 'SIGKILL')
    await new Promise((r) => setTimeout(r, 500))
    const alive = isAlive(pid)
    if (alive) process.kill(pid, 'SIGKILL')
    expect(alive).toBe(true)
  })
})
