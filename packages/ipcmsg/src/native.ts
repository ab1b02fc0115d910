import { createRequire } from 'node:module'

/**
 * The addon built from native/ at install time. Its contract is written at the
 * top of each native/*.c file; this is only its shape.
 */
export type ChannelHandle = { readonly __channel: unique symbol }
export type WatchHandle = { readonly __watch: unique symbol }

export interface SystemError extends Error {
  code: string
  errno: number
  syscall: string
}

export interface Passwd {
  name: string
  uid: number
  gid: number
  gecos: string
  dir: string
  shell: string
}

export interface Group {
  name: string
  gid: number
  members: string[]
}

interface Addon {
  channelOpen(
    fd: number,
    onRead: (buf: Buffer | null, fds: number[] | undefined, truncated: boolean) => void,
    onDrain: () => void,
    onError: (err: SystemError) => void,
  ): ChannelHandle
  channelWrite(h: ChannelHandle, bufs: Uint8Array[], fd: number, keep: boolean): number
  channelReadStart(h: ChannelHandle): void
  channelReadStop(h: ChannelHandle): void
  channelRef(h: ChannelHandle): void
  channelUnref(h: ChannelHandle): void
  channelClose(h: ChannelHandle): void
  channelQueuedFds(h: ChannelHandle): number
  watchOpen(fd: number, cb: () => void): WatchHandle
  watchClose(h: WatchHandle): void
  watchRef(h: WatchHandle, on: boolean): void
  socketpair(): [number, number]
  connect(path: string): number
  listen(path: string, backlog: number): number
  accept(fd: number): number
  close(fd: number): void
  setCloexec(fd: number, on: boolean): void
  dup(fd: number): number
  fdKind(fd: number): 'socket' | 'file' | 'directory' | 'fifo' | 'character' | 'other'
  chroot(path: string): void
  getpwnam(name: string): Passwd | undefined
  getpwuid(uid: number): Passwd | undefined
  getgrnam(name: string): Group | undefined
  getgrgid(gid: number): Group | undefined
  getgrouplist(name: string, gid: number): number[]
  setParentDeathSignal(signo: number): void
  getParentDeathSignal(): number
  getppid(): number
}

// src/ and dist/ both sit one level below the package root, next to build/.
const require = createRequire(import.meta.url)
export const addon: Addon = require('../build/Release/ipcmsg.node')
