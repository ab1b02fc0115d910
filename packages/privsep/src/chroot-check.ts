/**
 * Is a directory safe to chroot into? The rule OpenSSH applies to ChrootDirectory: the
 * directory and every directory above it are owned by root and writable by nobody else,
 * or an unprivileged process could plant files (a fake /etc/passwd, a library) in its jail
 * or swap the jail itself.
 */
import { statSync } from 'node:fs'
import { dirname, isAbsolute } from 'node:path'

/** Why `path` is not a safe chroot, in one line, or undefined when it is safe. */
export function chrootProblem(path: string): string | undefined {
  if (!isAbsolute(path)) return `chroot directory "${path}" is not an absolute path`
  const components: string[] = []
  for (let dir = path; ; dir = dirname(dir)) {
    components.unshift(dir)
    if (dirname(dir) === dir) break
  }
  for (const dir of components) {
    const where = dir === path ? `chroot directory "${path}"` : `chroot directory "${path}": "${dir}"`
    let st: ReturnType<typeof statSync>
    try {
      st = statSync(dir)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT') return `${where} does not exist`
      return `${where} cannot be checked (${code ?? String(err)})`
    }
    if (!st.isDirectory()) return `${where} is not a directory`
    if (st.uid !== 0) return `${where} is not owned by root`
    if ((st.mode & 0o022) !== 0) return `${where} is writable by group or others`
  }
  return undefined
}
