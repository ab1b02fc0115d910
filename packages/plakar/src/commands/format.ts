import type { Entry, SnapshotHeader } from '../snapshot/index.js'

/** How the commands print sizes, times, modes and snapshot lines. */

/** SI units as the plakar article prints them: `11 MB`, `4.2 kB`, `512 B`. */
export function humanSize(n: number): string {
  if (n < 1000) return `${n} B`
  const units = ['kB', 'MB', 'GB', 'TB', 'PB', 'EB']
  let v = n
  let u = -1
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000
    u++
  }
  return `${v >= 9.95 ? Math.round(v) : v.toFixed(1)} ${units[u]}`
}

/** `2021-11-27T00:12:04Z`: ISO 8601 UTC to the second. */
export function isoSecond(iso: string): string {
  return iso.replace(/\.\d+Z$/, 'Z')
}

/** The `ls` line of a snapshot: time, UUID, size, paths. */
export function snapshotLine(h: SnapshotHeader): string {
  return `${isoSecond(h.time)}  ${h.uuid} ${humanSize(h.size).padStart(9)} ${h.paths.join(', ')}`
}

const KIND_CHAR: Record<Entry['kind'], string> = {
  file: '-',
  dir: 'd',
  symlink: 'l',
  fifo: 'p',
  chardev: 'c',
  blockdev: 'b',
  socket: 's',
}

/** `drwxr-sr-t`, as ls -l shows it. */
export function modeString(e: Entry): string {
  const m = e.mode
  const rwx = (shift: number, special: boolean, ch: string) => {
    const x = (m >> shift) & 1
    return (
      ((m >> (shift + 2)) & 1 ? 'r' : '-') +
      ((m >> (shift + 1)) & 1 ? 'w' : '-') +
      (special ? (x ? ch : ch.toUpperCase()) : x ? 'x' : '-')
    )
  }
  return (
    KIND_CHAR[e.kind] +
    rwx(6, (m & 0o4000) !== 0, 's') +
    rwx(3, (m & 0o2000) !== 0, 's') +
    rwx(0, (m & 0o1000) !== 0, 't')
  )
}

/** `2021-11-27 00:12` in UTC. */
export function shortTime(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 16).replace('T', ' ')
}

/** One ls -l line (as bytes: names are written exactly as stored). */
export function longLine(h: SnapshotHeader, e: Entry, name: Buffer): Buffer {
  const user = h.users.find(([id]) => id === e.uid)?.[1] ?? String(e.uid)
  const group = h.groups.find(([id]) => id === e.gid)?.[1] ?? String(e.gid)
  const size = e.kind === 'chardev' || e.kind === 'blockdev' ? `${e.rdev ?? 0}` : String(e.size)
  const head = `${modeString(e)} ${user.padEnd(8)} ${group.padEnd(8)} ${size.padStart(12)} ${shortTime(e.mtimeNs)} `
  const parts = [Buffer.from(head), name]
  if (e.kind === 'symlink') parts.push(Buffer.from(' -> '), e.target!)
  parts.push(Buffer.from('\n'))
  return Buffer.concat(parts)
}

/** `1:02:03` or `2:03`. */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const ss = String(s % 60).padStart(2, '0')
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`
}
