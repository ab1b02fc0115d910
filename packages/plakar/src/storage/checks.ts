/**
 * Argument checks every backend runs before touching its medium, so that all backends
 * reject the same inputs with the same codes (the conformance suite holds them to it).
 */
import { StorageError } from '../errors.js'
import { OBJECT_KINDS, type ObjectKind } from './store.js'

/** Object names: hex ids, UUIDs, `config`. No dot, slash or upper case, so safe as a file name anywhere. */
const NAME = /^[0-9a-z][0-9a-z-]{0,127}$/

export function checkName(location: string, kind: ObjectKind, name: string): void {
  if (!(OBJECT_KINDS as readonly string[]).includes(kind)) {
    throw new TypeError(`unknown object kind ${JSON.stringify(kind)}`)
  }
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new StorageError(
      'STORAGE_BAD_NAME',
      `${location}: invalid ${kind} name ${JSON.stringify(name)} (want 1-128 of [0-9a-z-])`,
    )
  }
}

/** The byte range [start, end) a get asks for, before the object's size is known. */
export interface Range {
  readonly start: number
  /** undefined: to the end of the object. */
  readonly length: number | undefined
}

export function checkRange(offset: number | undefined, length: number | undefined): Range {
  if (offset === undefined) {
    if (length !== undefined) throw new RangeError('get: a length needs an offset')
    return { start: 0, length: undefined }
  }
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`get: bad offset ${offset}`)
  if (length !== undefined && (!Number.isSafeInteger(length) || length < 0)) {
    throw new RangeError(`get: bad length ${length}`)
  }
  return { start: offset, length }
}

/** Resolve `range` against an object of `size` bytes: the end offset, or a STORAGE_SHORT_READ. */
export function rangeEnd(
  location: string,
  kind: ObjectKind,
  name: string,
  range: Range,
  size: number,
): number {
  const end = range.length === undefined ? Math.max(size, range.start) : range.start + range.length
  if (range.start > size || end > size) {
    throw new StorageError(
      'STORAGE_SHORT_READ',
      `${location}: ${kind} ${name} has ${size} bytes, cannot read ${range.start}..${end}`,
    )
  }
  return end
}

export function closedError(location: string): StorageError {
  return new StorageError('STORAGE_CLOSED', `${location}: store used after close()`)
}

export function notFound(location: string, kind: ObjectKind, name: string): StorageError {
  return new StorageError('STORAGE_NOT_FOUND', `${location}: ${kind} ${name} not found`)
}

export function exists(location: string, kind: ObjectKind, name: string): StorageError {
  return new StorageError(
    'STORAGE_EXISTS',
    `${location}: ${kind} ${name} already exists with different content`,
  )
}

/** Same bytes? (Buffer.compare is native; this avoids copying either side.) */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b)
}
