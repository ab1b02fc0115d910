import { constants } from 'node:os'
import { addon, type Group, type Passwd } from './native.js'

/**
 * POSIX calls Node lacks, for privilege separation. Failures throw Node-style
 * system errors (code, errno, syscall). Lookups return undefined for a name or
 * id that does not exist.
 */
export type { Group, Passwd }

/**
 * A connected pair of UNIX stream sockets, both close-on-exec. To give one
 * end to a child, pass it in spawn()'s stdio array (Node dup2()s it into the
 * child, clearing close-on-exec there), close it in the parent, and in the
 * child wrap the inherited number with Channel.fromFd().
 */
export function socketpair(): [number, number] {
  return addon.socketpair()
}

/**
 * A listening UNIX stream socket bound at `path` (which must not exist), as a raw fd:
 * non-blocking and close-on-exec. For a process that binds where another accepts (a privsep
 * parent binds, a listener child accepts it with net.Server's listen({ fd })); the caller
 * removes the file. Listener.listen() is the way to accept channels in this process.
 */
export function listenUnix(path: string, backlog = 128): number {
  return addon.listen(path, backlog)
}

/** chdir(path), chroot("."), chdir("/"). Call process.chdir('/') after: Node caches the cwd. */
export function chroot(path: string): void {
  addon.chroot(path)
}

export function getpwnam(name: string): Passwd | undefined {
  return addon.getpwnam(name)
}

export function getpwuid(uid: number): Passwd | undefined {
  return addon.getpwuid(uid)
}

export function getgrnam(name: string): Group | undefined {
  return addon.getgrnam(name)
}

export function getgrgid(gid: number): Group | undefined {
  return addon.getgrgid(gid)
}

/** Every group id of the user, gid included: what setgroups() wants before dropping to the user. */
export function getgrouplist(name: string, gid: number): number[] {
  return addon.getgrouplist(name, gid)
}

/** Clears (false) or sets (true) close-on-exec, for fds handed to exec'd programs by other means than spawn stdio. */
export function setCloexec(fd: number, on: boolean): void {
  addon.setCloexec(fd, on)
}

/** A close-on-exec duplicate of fd. */
export function dupFd(fd: number): number {
  return addon.dup(fd)
}

export function closeFd(fd: number): void {
  addon.close(fd)
}

/** What fstat says the descriptor is: 'socket', 'file', 'directory', 'fifo', 'character' or 'other'. */
export function fdKind(fd: number): ReturnType<typeof addon.fdKind> {
  return addon.fdKind(fd)
}

/**
 * Asks the kernel to send this process `signal` when its parent dies (Linux
 * prctl(PR_SET_PDEATHSIG)); 0 clears it. It is delivered even while the event
 * loop is blocked, so only a signal without a JavaScript listener (SIGKILL, or
 * one left at its default action) ends a process that is stuck.
 *
 * Contract: "parent" is the thread that spawned this process (Node spawns from
 * its main thread); the setting is cleared when this process's credentials
 * change (setuid, setgid, setgroups) or it execs a set-id program, so set it
 * after dropping privileges; and a parent that died before the call is never
 * reported: compare getppid() with the expected parent afterwards.
 */
export function setParentDeathSignal(signal: number | NodeJS.Signals): void {
  const signo = typeof signal === 'number' ? signal : constants.signals[signal]
  if (signo === undefined) throw new TypeError(`setParentDeathSignal: unknown signal ${String(signal)}`)
  addon.setParentDeathSignal(signo)
}

/** The signal setParentDeathSignal() set, as a number; 0 when none is. */
export function getParentDeathSignal(): number {
  return addon.getParentDeathSignal()
}

/** getppid(2) now: the parent's pid, or a reaper's once the parent died (process.ppid is read once, at start-up). */
export function getppid(): number {
  return addon.getppid()
}
