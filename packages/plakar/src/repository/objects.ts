/**
 * A repository's objects as stored, for copying them whole to another store (clone): the
 * objects are listed and read as they are, and each is proven genuine before it leaves.
 *
 * CONTRACT
 * - kinds are the kinds a copy takes, in the order that keeps the copy coherent at every
 *   moment: config and keys first (the copy is then an empty repository), then packs, then
 *   the index objects that name them, then the snapshots that use them. A writer publishes
 *   in that order too, so listing in the reverse order (snapshots first) sees, for every
 *   snapshot listed, the indexes and packs it needs. Locks and doom lists (kind `lock`)
 *   belong to the writers of one store and are never copied.
 * - verify(kind, name, bytes) throws REPO_CORRUPT with one line unless the bytes are that
 *   object, genuine: the config is the one this repository was opened with; a key parses;
 *   a pack's bytes hash to its name, its header authenticates, every entry lies in the pack
 *   and every blob authenticates (Envelope.verifyBlob); an index hashes to its name and
 *   decodes; a snapshot object opens. It returns the number of blobs a pack holds (0 for
 *   other kinds). It reads nothing from the store.
 */
import { createHash } from 'node:crypto'
import { parseKeyFile } from '../crypto/index.js'
import { RepositoryError } from '../errors.js'
import {
  decodeIndexEach,
  type Envelope,
  PACK_TRAILER,
  packHeaderRange,
  readPackHeader,
} from '../format/index.js'
import type { ObjectInfo, ObjectKind, Store } from '../storage/store.js'

export const COPIED_KINDS = [
  'config',
  'key',
  'pack',
  'index',
  'snapshot',
] as const satisfies readonly ObjectKind[]
export type CopiedKind = (typeof COPIED_KINDS)[number]

export interface RepositoryObjects {
  readonly location: string
  readonly concurrency: number
  list(kind: CopiedKind): AsyncIterable<ObjectInfo>
  get(kind: CopiedKind, name: string): Promise<Uint8Array>
  verify(kind: CopiedKind, name: string, bytes: Uint8Array): number
}

export function objectsAccess(store: Store, envelope: Envelope, configBytes: Uint8Array): RepositoryObjects {
  return {
    location: store.location,
    concurrency: store.concurrency,
    list: (kind) => store.list(kind),
    get: (kind, name) => store.get(kind, name),
    verify: (kind, name, bytes) => verifyObject(envelope, configBytes, kind, name, bytes),
  }
}

function corrupt(what: string, why: string): RepositoryError {
  return new RepositoryError('REPO_CORRUPT', `${what}: ${why}`)
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

export function verifyObject(
  envelope: Envelope,
  configBytes: Uint8Array,
  kind: CopiedKind,
  name: string,
  bytes: Uint8Array,
): number {
  const what = `${kind} ${name}`
  switch (kind) {
    case 'config':
      if (!Buffer.from(configBytes).equals(bytes))
        throw corrupt(what, 'not the configuration the repository was opened with')
      return 0
    case 'key':
      parseKeyFile(name, bytes)
      return 0
    case 'snapshot':
      envelope.openObject(`snapshot ${name}`, bytes, `snapshot ${name}`)
      return 0
    case 'index':
      if (sha256(bytes) !== name) throw corrupt(what, 'content does not match its name (damaged)')
      decodeIndexEach(envelope, name, bytes, () => undefined)
      return 0
    case 'pack':
      return verifyPack(envelope, name, bytes)
  }
}

function verifyPack(envelope: Envelope, name: string, bytes: Uint8Array): number {
  const what = `pack ${name}`
  if (bytes.byteLength < PACK_TRAILER) throw corrupt(what, 'too short')
  if (sha256(bytes) !== name) throw corrupt(what, 'content does not match its name (damaged)')
  const range = packHeaderRange(name, bytes.subarray(bytes.byteLength - PACK_TRAILER), bytes.byteLength)
  const entries = readPackHeader(
    envelope,
    name,
    bytes.subarray(range.offset, range.offset + range.length),
    range.offset,
  )
  for (const e of entries) {
    if (e.offset + e.length > range.offset) throw corrupt(what, 'an entry runs into the header')
    try {
      envelope.verifyBlob(e.type, e.id, bytes.subarray(e.offset, e.offset + e.length))
    } catch (err) {
      throw corrupt(what, (err as Error).message)
    }
  }
  return entries.length
}
