/**
 * The user database, read before chroot: after it, /etc/passwd and NSS are out of reach.
 *
 * Contract: lookupUser returns the passwd entry of `name` as getpwnam(3) sees it (NSS
 * included), or undefined when there is none.
 */
import { getpwnam } from './channel.js'

export interface UserEntry {
  readonly name: string
  readonly uid: number
  readonly gid: number
  readonly home: string
}

export function lookupUser(name: string): UserEntry | undefined {
  const pw = getpwnam(name)
  return pw === undefined ? undefined : { name: pw.name, uid: pw.uid, gid: pw.gid, home: pw.dir }
}
