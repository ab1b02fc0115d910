import * as fs from 'node:fs'

export type ReadResult =
  | { readonly ok: true; readonly text: string; readonly realpath: string }
  | { readonly ok: false; readonly code: 'file' | 'insecure'; readonly message: string }

const ERRNO: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'a component of the path is not a directory',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'file name too long',
  EMFILE: 'too many open files',
}

function reason(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string' && ERRNO[code]) return ERRNO[code]!
  return err instanceof Error ? err.message : String(err)
}

/**
 * Reads a configuration file as UTF-8. The checks run on the opened
 * descriptor, so the file checked is the file read. With `secret`, the file
 * must be owned by root or the current user and grant nothing to group or
 * others, as OpenBSD daemons demand of files holding passwords or keys.
 */
export function readConfigFile(path: string, secret: boolean): ReadResult {
  let fd: number
  try {
    fd = fs.openSync(path, 'r')
  } catch (err) {
    return { ok: false, code: 'file', message: `cannot open: ${reason(err)}` }
  }
  try {
    const st = fs.fstatSync(fd)
    if (!st.isFile()) return { ok: false, code: 'file', message: 'not a regular file' }
    if (secret) {
      const uid = typeof process.getuid === 'function' ? process.getuid() : undefined
      if (uid !== undefined && st.uid !== 0 && st.uid !== uid) {
        return {
          ok: false,
          code: 'insecure',
          message: `bad file owner (uid ${st.uid}): must be owned by root or the current user (uid ${uid})`,
        }
      }
      if (st.mode & 0o077) {
        const mode = (st.mode & 0o777).toString(8).padStart(4, '0')
        return {
          ok: false,
          code: 'insecure',
          message: `bad file permissions (mode ${mode}): must not be accessible by group or others (chmod 600)`,
        }
      }
    }
    let text = fs.readFileSync(fd, 'utf8')
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
    let realpath = path
    try {
      realpath = fs.realpathSync(path)
    } catch {
      // Renamed since it was opened: the name given still identifies it for cycle checks.
    }
    return { ok: true, text, realpath }
  } catch (err) {
    return { ok: false, code: 'file', message: `cannot read: ${reason(err)}` }
  } finally {
    fs.closeSync(fd)
  }
}
