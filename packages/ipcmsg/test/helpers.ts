import { type ChildProcess, spawn } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Channel, type ChannelOptions, closeFd, socketpair } from '@poolp/ipcmsg'

/** The test protocol between this process and test/peers/*.ts. */
export const T = {
  PING: 1,
  PONG: 2,
  READ_FD: 3,
  FD_CONTENT: 4,
  USE_SOCKET: 5,
  SEND_BACK_FD: 6,
  FD_BACK: 7,
  SIZE: 8,
  BLAST: 9,
  DATA: 10,
  DONE: 11,
  EXIT: 12,
} as const

const here = dirname(fileURLToPath(import.meta.url))

/**
 * Spawns test/peers/<name>.ts as a real Node process holding the other end of
 * a socketpair on its fd 3, and returns our end as a Channel.
 */
export function spawnPeer(
  name: string,
  options: ChannelOptions = {},
  env: Record<string, string> = {},
): { channel: Channel; child: ChildProcess; exited: Promise<number | null> } {
  const [mine, theirs] = socketpair()
  const child = spawn(
    process.execPath,
    ['--conditions=@poolp/source', '--import', 'tsx', join(here, 'peers', `${name}.ts`)],
    { stdio: ['ignore', 'inherit', 'inherit', theirs], env: { ...process.env, ...env } },
  )
  closeFd(theirs)
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { channel: Channel.fromFd(mine, options), child, exited }
}

/** The descriptors this process has open, from /proc/self/fd. */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length
}
