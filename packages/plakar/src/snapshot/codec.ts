import { Packr } from 'msgpackr'
import { SnapshotError } from '../errors.js'

/**
 * The one MessagePack codec of the snapshot layer. Tree blobs are content-addressed, so the
 * same directory must always encode to the same bytes: records and string bundling are
 * off, and callers build objects with a fixed key order and no undefined fields.
 */
const packr = new Packr({ useRecords: false, bundleStrings: false, moreTypes: false, int64AsType: 'bigint' })

export function encode(value: unknown): Uint8Array {
  // msgpackr returns a view into a shared buffer; copy so the caller owns its bytes.
  return Uint8Array.from(packr.pack(value))
}

/** Decode a blob of the snapshot layer; `what` names it in the error when it does not decode. */
export function decode(data: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown
  try {
    value = packr.unpack(data)
  } catch (err) {
    throw new SnapshotError('SNAPSHOT_CORRUPT', `${what}: does not decode (${(err as Error).message})`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SnapshotError('SNAPSHOT_CORRUPT', `${what}: not a map`)
  }
  return value as Record<string, unknown>
}

export function corrupt(what: string, detail: string): SnapshotError {
  return new SnapshotError('SNAPSHOT_CORRUPT', `${what}: ${detail}`)
}

export function hex(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex')
}

export function asBuffer(value: unknown, what: string, field: string): Buffer {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  throw corrupt(what, `field ${field} is not bytes`)
}

export function asInt(value: unknown, what: string, field: string): number {
  if (typeof value === 'number' && Number.isInteger(value)) return value
  if (
    typeof value === 'bigint' &&
    value <= BigInt(Number.MAX_SAFE_INTEGER) &&
    value >= -BigInt(Number.MAX_SAFE_INTEGER)
  )
    return Number(value)
  throw corrupt(what, `field ${field} is not an integer`)
}

export function asBigInt(value: unknown, what: string, field: string): bigint {
  if (typeof value === 'bigint') return value
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value)
  throw corrupt(what, `field ${field} is not an integer`)
}

export function asString(value: unknown, what: string, field: string): string {
  if (typeof value === 'string') return value
  throw corrupt(what, `field ${field} is not a string`)
}

export function asArray(value: unknown, what: string, field: string): unknown[] {
  if (Array.isArray(value)) return value
  throw corrupt(what, `field ${field} is not an array`)
}

export function asId(value: unknown, what: string, field: string): Buffer {
  const b = asBuffer(value, what, field)
  if (b.length !== 32) throw corrupt(what, `field ${field} is not a 32-byte blob id`)
  return b
}
