import { createHash } from 'node:crypto'
import { RepositoryError } from '../errors.js'
import { ENTRY_SIZE, type PackEntry, Reader, writeEntry } from './entries.js'
import type { Envelope } from './envelope.js'

/**
 * Index objects: which blobs each pack holds. Written once per writer flush, after the packs
 * they name are durable; never modified. The repository's index is the union of all of them.
 *
 *   payload = version u8 (1) || packCount u32 || packCount x (packId [32] || count u32 || count x entry)
 *
 * Sealed as an object with label "index"; the object's name is the SHA-256 of its bytes.
 */
export const INDEX_VERSION = 1
const LABEL = 'index'

export interface IndexedPack {
  /** hex name of the pack object */
  readonly pack: string
  readonly entries: readonly PackEntry[]
}

export function encodeIndex(
  envelope: Envelope,
  packs: readonly IndexedPack[],
): { name: string; bytes: Uint8Array } {
  let size = 5
  for (const p of packs) size += 36 + p.entries.length * ENTRY_SIZE
  const plain = Buffer.allocUnsafe(size)
  plain[0] = INDEX_VERSION
  plain.writeUInt32LE(packs.length, 1)
  let at = 5
  for (const p of packs) {
    if (!/^[0-9a-f]{64}$/.test(p.pack)) throw new RepositoryError('REPO_USAGE', `bad pack name ${p.pack}`)
    plain.write(p.pack, at, 'hex')
    plain.writeUInt32LE(p.entries.length, at + 32)
    at += 36
    for (const e of p.entries) at = writeEntry(plain, at, e)
  }
  const bytes = envelope.sealObject(LABEL, plain)
  return { name: createHash('sha256').update(bytes).digest('hex'), bytes }
}

export function decodeIndex(envelope: Envelope, name: string, bytes: Uint8Array): IndexedPack[] {
  const packs: IndexedPack[] = []
  decodeIndexEach(envelope, name, bytes, (p) => packs.push(p))
  return packs
}

/**
 * decodeIndex one pack at a time: `visit` gets each pack as it is decoded, so that memory
 * holds the object's bytes and one pack's entries rather than every entry at once (a reader
 * that stores them elsewhere, a check or a prune, never needs them all). The object is
 * authenticated before the first visit; a malformed payload throws REPO_CORRUPT between
 * visits, so a caller that must not act on part of an object undoes what it did (a
 * transaction).
 */
export function decodeIndexEach(
  envelope: Envelope,
  name: string,
  bytes: Uint8Array,
  visit: (pack: IndexedPack) => void,
): void {
  const what = `index ${name}`
  const plain = Buffer.from(envelope.openObject(LABEL, bytes, what))
  const r = new Reader(plain, what)
  const version = r.u8()
  if (version !== INDEX_VERSION) throw new RepositoryError('REPO_UNSUPPORTED', `${what}: version ${version}`)
  const packCount = r.u32()
  for (let i = 0; i < packCount; i++) {
    const pack = Buffer.from(r.bytes(32)).toString('hex')
    const count = r.u32()
    if (count * ENTRY_SIZE > plain.length) throw new RepositoryError('REPO_CORRUPT', `${what}: truncated`)
    const entries: PackEntry[] = []
    for (let j = 0; j < count; j++) entries.push(r.entry())
    visit({ pack, entries })
  }
  r.end()
}
