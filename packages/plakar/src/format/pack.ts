import { createHash } from 'node:crypto'
import { RepositoryError } from '../errors.js'
import { ENTRY_SIZE, type PackEntry, Reader, writeEntry } from './entries.js'
import type { Envelope } from './envelope.js'

/**
 * Pack objects: many sealed blobs, then a sealed header listing them, then a fixed trailer.
 *
 *   blob 0 || blob 1 || ... || header || headerLength u32 LE || "plk1"
 *   header payload = version u8 (1) || count u32 || count x entry (see entries.ts)
 *
 * The header is sealed like any object (label "pack-header"), so an encrypted pack reveals
 * only blob sizes. The pack's name is the SHA-256 of its bytes. Because each pack describes
 * itself, the index can be rebuilt from the packs alone (readPackHeader).
 */
export const PACK_VERSION = 1
export const PACK_MAGIC = Buffer.from('plk1', 'ascii')
export const PACK_TRAILER = 8
const HEADER_LABEL = 'pack-header'

export interface BuiltPack {
  readonly name: string
  readonly bytes: Buffer
}

/**
 * Finishes a pack whose sealed blobs are already in `buffer[0..size)` (at the entries'
 * offsets): appends the header and trailer, in place when `buffer` has room, and names it.
 */
export function finishPack(
  envelope: Envelope,
  buffer: Buffer,
  size: number,
  entries: readonly PackEntry[],
): BuiltPack {
  const plain = Buffer.allocUnsafe(5 + entries.length * ENTRY_SIZE)
  plain[0] = PACK_VERSION
  plain.writeUInt32LE(entries.length, 1)
  let at = 5
  for (const e of entries) at = writeEntry(plain, at, e)
  const header = envelope.sealObject(HEADER_LABEL, plain)
  const total = size + header.length + PACK_TRAILER
  let bytes = buffer
  if (total > buffer.length) {
    bytes = Buffer.allocUnsafe(total)
    buffer.copy(bytes, 0, 0, size)
  }
  bytes = bytes.subarray(0, total)
  bytes.set(header, size)
  bytes.writeUInt32LE(header.length, size + header.length)
  PACK_MAGIC.copy(bytes, size + header.length + 4)
  return { name: createHash('sha256').update(bytes).digest('hex'), bytes }
}

/** Joins sealed blobs (in entry order, offsets as given) with their header and trailer. */
export function buildPack(
  envelope: Envelope,
  blobs: readonly Uint8Array[],
  entries: readonly PackEntry[],
): BuiltPack {
  let size = 0
  for (const b of blobs) size += b.length
  const buffer = Buffer.allocUnsafe(size)
  let off = 0
  for (const b of blobs) {
    buffer.set(b, off)
    off += b.length
  }
  return finishPack(envelope, buffer, size, entries)
}

/** Where the sealed header sits, from the pack's last 8 bytes and its size. */
export function packHeaderRange(
  name: string,
  trailer: Uint8Array,
  packSize: number,
): { offset: number; length: number } {
  const t = Buffer.from(trailer.buffer, trailer.byteOffset, trailer.byteLength)
  if (t.length !== PACK_TRAILER || !t.subarray(4).equals(PACK_MAGIC))
    throw new RepositoryError('REPO_CORRUPT', `pack ${name}: bad trailer`)
  const length = t.readUInt32LE(0)
  const offset = packSize - PACK_TRAILER - length
  if (offset < 0) throw new RepositoryError('REPO_CORRUPT', `pack ${name}: header length out of range`)
  return { offset, length }
}

/** The entries a pack's header lists, checked against the pack's layout. */
export function readPackHeader(
  envelope: Envelope,
  name: string,
  sealedHeader: Uint8Array,
  headerOffset: number,
): PackEntry[] {
  const what = `pack ${name} header`
  const plain = Buffer.from(envelope.openObject(HEADER_LABEL, sealedHeader, what))
  const r = new Reader(plain, what)
  const version = r.u8()
  if (version !== PACK_VERSION) throw new RepositoryError('REPO_UNSUPPORTED', `${what}: version ${version}`)
  const count = r.u32()
  if (count * ENTRY_SIZE > plain.length) throw new RepositoryError('REPO_CORRUPT', `${what}: truncated`)
  const entries: PackEntry[] = []
  for (let i = 0; i < count; i++) {
    const e = r.entry()
    if (e.offset + e.length > headerOffset)
      throw new RepositoryError('REPO_CORRUPT', `${what}: entry out of range`)
    entries.push(e)
  }
  r.end()
  return entries
}
