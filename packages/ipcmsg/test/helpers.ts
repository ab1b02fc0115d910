import { type ChildProcess, spawn } from 'node:child_process'
import { openSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Channel, type ChannelOptions, closeFd, socketpair } from '@poolp/ipcmsg'
import { addon } from '../src/native.js'

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
  SLOW: 13,
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
  wrapper: string[] = [],
): { channel: Channel; child: ChildProcess; exited: Promise<number | null> } {
  const [mine, theirs] = socketpair()
  const argv = [
    process.execPath,
    '--conditions=@poolp/source',
    '--import',
    'tsx',
    join(here, 'peers', `${name}.ts`),
  ]
  const [cmd, ...args] = [...wrapper, ...argv]
  const child = spawn(cmd!, args, {
    stdio: ['ignore', 'inherit', 'inherit', theirs],
    env: { ...process.env, ...env },
  })
  closeFd(theirs)
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { channel: Channel.fromFd(mine, options), child, exited }
}

/** The descriptors this process has open, from /proc/self/fd. */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length
}

/**
 * A raw end of a socketpair for writing arbitrary bytes, with or without an
 * fd, to a Channel: the only way to send it malformed frames. Uses the addon
 * directly, since no public API writes a broken header on purpose.
 */
export function rawPair(options: ChannelOptions = {}): {
  channel: Channel
  write(bytes: Uint8Array, fd?: number): void
  end(): void
} {
  const [a, b] = socketpair()
  const channel = Channel.fromFd(a, options)
  const handle = addon.channelOpen(
    b,
    (_buf, fds) => {
      for (const fd of fds ?? []) addon.close(fd)
    },
    () => {},
    () => {},
  )
  return {
    channel,
    write: (bytes, fd) => {
      addon.channelWrite(handle, [bytes], fd ?? -1, false)
    },
    end: () => addon.channelClose(handle),
  }
}

/** A classic-dialect header on this (little-endian) machine. */
export function header(type: number, len: number, flags = 0, peerid = 0, pid = 0): Buffer {
  const h = Buffer.alloc(16)
  h.writeUInt32LE(type, 0)
  h.writeUInt16LE(len, 4)
  h.writeUInt16LE(flags, 6)
  h.writeUInt32LE(peerid, 8)
  h.writeUInt32LE(pid, 12)
  return h
}

/** A descriptor to pass around: /dev/null, close-on-exec. */
export function devNull(): number {
  return openSync('/dev/null', 'r')
}
