/**
 * The system users and jails the examples name, as OpenSMTPD's install creates them.
 * CI creates them in .ci/run; a test creates any that are missing (root only), so the
 * suite also runs on a fresh machine without CI's script.
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, chownSync, mkdirSync } from 'node:fs'

export const isRoot = process.geteuid?.() === 0

function hasUser(name: string): boolean {
  try {
    execFileSync('getent', ['passwd', name], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

function rootDir(path: string, mode: number): void {
  mkdirSync(path, { recursive: true })
  chownSync(path, 0, 0)
  chmodSync(path, mode)
}

export function ensureSmtpdSystem(): void {
  rootDir('/var/empty', 0o755)
  rootDir('/var/spool/smtpd', 0o711)
  for (const [user, home] of [
    ['_smtpd', '/var/empty'],
    ['_smtpq', '/var/spool/smtpd'],
  ] as const) {
    if (!hasUser(user)) {
      execFileSync('useradd', [
        '--system',
        '--no-create-home',
        '--home-dir',
        home,
        '--shell',
        '/usr/sbin/nologin',
        user,
      ])
    }
  }
}

export function userIds(name: string): { uid: number; gid: number } {
  const [, , uid, gid] = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim().split(':')
  return { uid: Number(uid), gid: Number(gid) }
}
