import { readFileSync } from 'node:fs'

/**
 * Names of users and groups from /etc/passwd and /etc/group, read once: Node has no
 * getpwuid for other users. A missing or unreadable file yields no names (ids are shown).
 */
export function readIdNames(file: '/etc/passwd' | '/etc/group'): Map<number, string> {
  const names = new Map<number, string>()
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return names
  }
  for (const line of text.split('\n')) {
    const f = line.split(':')
    const id = Number(f[2])
    if (f.length >= 3 && f[0] && Number.isInteger(id) && !names.has(id)) names.set(id, f[0])
  }
  return names
}
