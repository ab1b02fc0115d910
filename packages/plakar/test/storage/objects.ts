/**
 * Deterministic test objects: the bytes of an object follow from its name, so that any
 * process can check what another wrote without being told (a partial or mixed object
 * never matches).
 */
import { createCipheriv, createHash } from 'node:crypto'
import { join } from 'node:path'
import type { ObjectKind } from '@poolp/plakar/storage'

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

/** Where fs layout 1 keeps an object below the repository directory `root` (docs/plakar-storage.md). */
export function fsObjectPath(root: string, kind: ObjectKind, name: string): string {
  const dirs = {
    config: 'config',
    key: 'keys',
    pack: 'packs',
    index: 'index',
    snapshot: 'snapshots',
    lock: 'locks',
  }
  return kind === 'pack' ? join(root, dirs[kind], name.slice(0, 2), name) : join(root, dirs[kind], name)
}
