/**
 * Deterministic test objects: the bytes of an object follow from its name, so that any
 * process can check what another wrote without being told (a partial or mixed object
 * never matches).
 */
import { createCipheriv, createHash } from 'node:crypto'

/** The bytes named `name`, of `size` bytes (default: derived from the name, up to `max`). */
export function objectBytes(name: string, size = objectSize(name)): Buffer {
  const key = createHash('sha256').update(name).digest().subarray(0, 16)
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16))
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()])
}

/** A size in [0, max) that follows from the name. */
export function objectSize(name: string, max = 200_000): number {
  return createHash('sha256').update(`size:${name}`).digest().readUInt32BE(0) % max
}

/** A name of the allowed alphabet, unique per (tag, i). */
export function objectName(tag: string, i: number): string {
  return createHash('sha256').update(`${tag}:${i}`).digest('hex')
}
