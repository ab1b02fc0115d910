import { randomUUID } from 'node:crypto'
import { asArray, asBuffer, asInt, asString, corrupt, decode, encode } from './codec.js'
import { type Entry, entryFromWire, entryToWire } from './entry.js'

/**
 * The snapshot header: the object stored under the snapshot's UUID (repository kind
 * `snapshot`). It names the root directory and carries what `ls` and `info` show without
 * loading the tree. Versioned; see docs/plakar-snapshot-format.md. Version 2 adds each
 * file's whole-content digest (`h`); version 1 snapshots, which lack it, are read as they are.
 */
export const SNAPSHOT_VERSION = 2
/** The versions this build reads. */
const READS = [1, 2]
/** Errors kept in the header; past this only the count grows. */
export const MAX_RECORDED_ERRORS = 1000

export interface SnapshotCounts {
  files: number
  dirs: number
  symlinks: number
  others: number
  errors: number
}

export interface SnapshotErrorRecord {
  readonly path: Buffer
  readonly message: string
}

export interface SnapshotHeader {
  readonly version: number
  readonly uuid: string
  /** ISO 8601 UTC, millisecond precision. */
  readonly time: string
  readonly hostname: string
  readonly username: string
  readonly commandLine: readonly string[]
  /** The absolute paths given to push. */
  readonly paths: readonly string[]
  readonly tags: readonly string[]
  /** The filesystem root `/` (name empty): only the directories leading to `paths` and their content. */
  readonly root: Entry
  readonly counts: SnapshotCounts
  /** Bytes of regular files. */
  readonly size: number
  /** Bytes this snapshot added to the repository (after dedup, compression, encryption). */
  readonly stored: number
  readonly durationMs: number
  /** Up to MAX_RECORDED_ERRORS errors met during the backup; counts.errors has the total. */
  readonly errors: readonly SnapshotErrorRecord[]
  /** Names of the owners and groups seen, for listings: [id, name]. */
  readonly users: readonly (readonly [number, string])[]
  readonly groups: readonly (readonly [number, string])[]
}

export function newSnapshotId(): string {
  return randomUUID()
}

export function encodeHeader(h: SnapshotHeader): Uint8Array {
  return encode({
    v: h.version,
    id: h.uuid,
    time: h.time,
    host: h.hostname,
    user: h.username,
    argv: h.commandLine,
    paths: h.paths,
    tags: h.tags,
    root: entryToWire(h.root),
    counts: [h.counts.files, h.counts.dirs, h.counts.symlinks, h.counts.others, h.counts.errors],
    size: h.size,
    stored: h.stored,
    ms: h.durationMs,
    errors: h.errors.map((e) => [e.path, e.message]),
    users: h.users,
    groups: h.groups,
  })
}

export function decodeHeader(data: Uint8Array, uuid: string): SnapshotHeader {
  const what = `snapshot ${uuid}`
  const m = decode(data, what)
  if (!READS.includes(m.v as number)) throw corrupt(what, `unknown snapshot version ${String(m.v)}`)
  const strings = (v: unknown, f: string) => asArray(v, what, f).map((s) => asString(s, what, f))
  const idNames = (v: unknown, f: string) =>
    asArray(v, what, f).map((p) => {
      const a = asArray(p, what, f)
      return [asInt(a[0], what, f), asString(a[1], what, f)] as const
    })
  const counts = asArray(m.counts, what, 'counts').map((n) => asInt(n, what, 'counts'))
  if (counts.length !== 5) throw corrupt(what, 'counts has the wrong length')
  const id = asString(m.id, what, 'id')
  if (id !== uuid) throw corrupt(what, `names itself ${id}`)
  const root = entryFromWire(m.root, what)
  if (root.kind !== 'dir') throw corrupt(what, 'root is not a directory')
  return {
    version: m.v as number,
    uuid: id,
    time: asString(m.time, what, 'time'),
    hostname: asString(m.host, what, 'host'),
    username: asString(m.user, what, 'user'),
    commandLine: strings(m.argv, 'argv'),
    paths: strings(m.paths, 'paths'),
    tags: strings(m.tags, 'tags'),
    root,
    counts: {
      files: counts[0]!,
      dirs: counts[1]!,
      symlinks: counts[2]!,
      others: counts[3]!,
      errors: counts[4]!,
    },
    size: asInt(m.size, what, 'size'),
    stored: asInt(m.stored, what, 'stored'),
    durationMs: asInt(m.ms, what, 'ms'),
    errors: asArray(m.errors, what, 'errors').map((p) => {
      const a = asArray(p, what, 'errors')
      return { path: asBuffer(a[0], what, 'errors'), message: asString(a[1], what, 'errors') }
    }),
    users: idNames(m.users, 'users'),
    groups: idNames(m.groups, 'groups'),
  }
}
