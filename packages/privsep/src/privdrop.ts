/**
 * Dropping privileges in a child, in OpenBSD's order: chroot and chdir("/") first (it needs
 * root), then the groups, the gid and the uid (the uid last: after it nothing else may be
 * changed), then proof that root cannot be regained.
 *
 * Node's process.setgid/setuid call setgid(2)/setuid(2), which as root set the real,
 * effective and saved ids of every thread and clear the capabilities. The proof: setuid(0),
 * seteuid(0), setgid(0) and setgroups([0]) must each fail; setuid(0) fails only if the saved
 * uid is not 0 either.
 */
import { PrivdropError } from './errors.js'
import type { UserEntry } from './users.js'

export interface Privdrop {
  readonly chrootPath: string | undefined
  readonly user: UserEntry | undefined
  /** chdir(path), chroot("."), chdir("/"): the addon's chroot. */
  readonly chroot: (path: string) => void
}

function attempt(what: string, fn: () => void): boolean {
  try {
    fn()
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EPERM') return false
    throw new PrivdropError(
      `checking that root cannot be regained: ${what} failed unexpectedly: ${String(err)}`,
    )
  }
}

export function dropPrivileges({ chrootPath, user, chroot }: Privdrop): void {
  if (chrootPath !== undefined) {
    try {
      chroot(chrootPath)
      process.chdir('/')
    } catch (err) {
      throw new PrivdropError(`chroot to "${chrootPath}" failed: ${(err as Error).message}`, { cause: err })
    }
  }
  if (user === undefined) return
  try {
    process.setgroups!([user.gid])
    process.setgid!(user.gid)
    process.setuid!(user.uid)
  } catch (err) {
    throw new PrivdropError(`dropping privileges to user "${user.name}" failed: ${(err as Error).message}`, {
      cause: err,
    })
  }
  const ids = [process.getuid!(), process.geteuid!(), process.getgid!(), process.getegid!()]
  const groups = process.getgroups!()
  if (
    ids.join() !== [user.uid, user.uid, user.gid, user.gid].join() ||
    groups.some((gid) => gid !== user.gid)
  ) {
    throw new PrivdropError(
      `dropping privileges to user "${user.name}" left uid/euid/gid/egid ${ids.join('/')} groups ${groups.join(',')}`,
    )
  }
  if (user.uid === 0) return
  const regained = [
    attempt('setuid(0)', () => process.setuid!(0)) && 'setuid(0)',
    attempt('seteuid(0)', () => process.seteuid!(0)) && 'seteuid(0)',
    user.gid !== 0 && attempt('setgid(0)', () => process.setgid!(0)) && 'setgid(0)',
    attempt('setgroups([0])', () => process.setgroups!([0])) && 'setgroups([0])',
  ].filter((x) => x !== false)
  if (regained.length > 0) {
    throw new PrivdropError(
      `root privileges could be regained after dropping them: ${regained.join(', ')} succeeded`,
    )
  }
}
