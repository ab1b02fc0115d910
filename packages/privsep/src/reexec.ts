/**
 * Re-executing the program as one of its children: Node cannot fork, so the parent runs
 * the same main module again with the same Node options and arguments, the role added.
 *
 * The child gets stdin, stdout and stderr from the parent and its control channel as fd 3,
 * nothing else: every other fd Node or ipcmsg opens is close-on-exec. The environment is
 * the parent's minus Node's own IPC variables, so a child never holds a Node IPC channel
 * (an unprivileged process could crash a privileged one through it).
 */
import type { ChildProcess } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { setCloexec } from './channel.js'
import { StartupError } from './errors.js'
import { roleArguments } from './role.js'

const NODE_IPC_ENV = ['NODE_CHANNEL_FD', 'NODE_CHANNEL_SERIALIZATION_MODE', 'NODE_UNIQUE_ID']

/** The main module to re-execute: what `node <script>` was given. */
export function mainModule(): string {
  const script = process.argv[1]
  if (script === undefined || script === '' || process.execArgv.some((a) => a === '-e' || a === '--eval')) {
    throw new StartupError(
      'privsep re-executes the main module, but this process has none (started with -e?)',
    )
  }
  return script
}

/**
 * Marks every fd above stderr close-on-exec. Node can run nothing between fork and exec,
 * so this is OpenBSD's closefrom(4) done from the other side: fds the parent inherited
 * without the flag (a shell's, a supervisor's) would otherwise reach every child.
 */
export function closeOnExec(): void {
  for (const entry of readdirSync('/proc/self/fd')) {
    const fd = Number(entry)
    if (fd <= 2) continue
    try {
      setCloexec(fd, true)
    } catch {
      // The fd readdir itself used, already closed again.
    }
  }
}

export function reexec(name: string, title: string, controlFd: number): ChildProcess {
  const args = [...process.execArgv, mainModule(), ...roleArguments(name, title), ...process.argv.slice(2)]
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const key of NODE_IPC_ENV) delete env[key]
  // Loaded here, not imported: only the parent spawns, and node:child_process costs every
  // child ~5 ms of CPU to load for nothing.
  const { spawn } = process.getBuiltinModule('node:child_process')
  return spawn(process.execPath, args, { stdio: ['inherit', 'inherit', 'inherit', controlFd], env })
}
