/**
 * A parent that spawns one child and then does nothing, for the parent-death signal test.
 * `orphan.ts parent <signal>` spawns `orphan.ts child <signal>`; the child sets that signal
 * as its parent-death signal (0: none), writes "<pid> <signal set> <ppid>" and then blocks
 * its event loop, as a stuck process would: only the kernel's signal can end it. It gives
 * up after 20 s so a failing test leaves no busy process behind.
 */
import { spawn } from 'node:child_process'
import { writeSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { getParentDeathSignal, getppid, setParentDeathSignal } from '@poolp/ipcmsg'

const [role, signal = '0'] = process.argv.slice(2)

if (role === 'parent') {
  spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), 'child', signal], {
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  setInterval(() => {}, 60_000)
} else {
  setParentDeathSignal(/^\d+$/.test(signal) ? Number(signal) : (signal as NodeJS.Signals))
  writeSync(1, `${process.pid} ${getParentDeathSignal()} ${getppid()}\n`)
  const until = Date.now() + 20_000
  while (Date.now() < until) {
    // Blocked: no timer, no I/O, no JavaScript signal listener can run.
  }
}
