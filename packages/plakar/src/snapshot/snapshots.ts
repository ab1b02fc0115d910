import { posix } from 'node:path'
import { isPlakarError, SnapshotError } from '../errors.js'
import type { Entry } from './entry.js'
import { decodeHeader, type SnapshotHeader } from './header.js'
import type { SnapshotRepository } from './repository-view.js'
import type { TreeReader } from './tree.js'

/** Finding snapshots by what a user types, and paths inside them. */

export async function loadHeader(repository: SnapshotRepository, uuid: string): Promise<SnapshotHeader> {
  return decodeHeader(await repository.getSnapshot(uuid), uuid)
}

/**
 * Every snapshot's header, oldest first. With `onError`, a snapshot that cannot be read
 * (damaged) is reported there and skipped, so one bad object does not hide the others.
 */
export async function listHeaders(
  repository: SnapshotRepository,
  onError?: (uuid: string, err: unknown) => void,
): Promise<SnapshotHeader[]> {
  const headers: SnapshotHeader[] = []
  for (const uuid of await repository.listSnapshots()) {
    try {
      headers.push(await loadHeader(repository, uuid))
    } catch (err) {
      if (onError === undefined || !isPlakarError(err)) throw err
      onError(uuid, err)
    }
  }
  return headers.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.uuid < b.uuid ? -1 : 1))
}

/**
 * The snapshot a user means: `latest` (the newest), a full UUID, or any unique prefix of
 * one. No match fails with SNAPSHOT_NOT_FOUND; several with SNAPSHOT_AMBIGUOUS naming them.
 */
export async function resolveSnapshot(repository: SnapshotRepository, ref: string): Promise<SnapshotHeader> {
  if (ref === 'latest') {
    const all = await listHeaders(repository)
    const last = all[all.length - 1]
    if (last === undefined)
      throw new SnapshotError('SNAPSHOT_NOT_FOUND', 'latest: the repository holds no snapshot')
    return last
  }
  const prefix = ref.toLowerCase()
  if (!/^[0-9a-f-]+$/.test(prefix)) throw new SnapshotError('SNAPSHOT_NOT_FOUND', `${ref}: not a snapshot id`)
  const matches = (await repository.listSnapshots()).filter((u) => u.startsWith(prefix)).sort()
  if (matches.length === 0) throw new SnapshotError('SNAPSHOT_NOT_FOUND', `${ref}: no such snapshot`)
  if (matches.length > 1) {
    throw new SnapshotError('SNAPSHOT_AMBIGUOUS', `${ref}: ambiguous, matches ${matches.join(' ')}`)
  }
  return loadHeader(repository, matches[0]!)
}

/** `SNAPSHOT[:PATH]` split at the first colon (UUIDs have none). */
export function parseRef(arg: string): { snapshot: string; path: string | undefined } {
  const i = arg.indexOf(':')
  if (i < 0) return { snapshot: arg, path: undefined }
  return { snapshot: arg.slice(0, i), path: arg.slice(i + 1) }
}

/** A path inside a snapshot, made absolute (snapshots name files by absolute path). */
export function normalizePath(path: string): string {
  return posix.normalize(`/${path}`).replace(/\/+$/, '') || '/'
}

export interface Located {
  /** The directories from the root (excluded) down to the entry's parent. */
  readonly parents: Entry[]
  readonly entry: Entry
  /** The normalised absolute path. */
  readonly path: string
}

/** The entry at `path`, loading one directory (page) per component. */
export async function locate(reader: TreeReader, header: SnapshotHeader, path: string): Promise<Located> {
  const abs = normalizePath(path)
  const parts = abs.split('/').filter((c) => c !== '')
  const parents: Entry[] = []
  let dir = header.root
  for (let i = 0; i < parts.length; i++) {
    const next = dir.kind === 'dir' ? await reader.lookup(dir.tree!, Buffer.from(parts[i]!)) : undefined
    if (next === undefined) {
      throw new SnapshotError(
        'SNAPSHOT_PATH_NOT_FOUND',
        `${header.uuid.slice(0, 8)}:${abs}: no such file or directory`,
      )
    }
    if (i === parts.length - 1) return { parents, entry: next, path: abs }
    parents.push(next)
    dir = next
  }
  return { parents: [], entry: header.root, path: abs }
}
