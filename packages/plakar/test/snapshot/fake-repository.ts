import { createHash } from 'node:crypto'
import { readSync } from 'node:fs'
import type { BlobType, PutResult } from '../../src/repository/types.js'
import type { ReadableFile, SnapshotBlobWriter, SnapshotRepository } from '../../src/snapshot/index.js'

/**
 * A minimal in-memory stand-in for Repository, used only until the real one lands: fixed
 * 64 KiB chunks, SHA-256 ids, no packs. It follows the agreed contract (ids verified on
 * read, snapshots visible only after putSnapshot).
 */
export class FakeRepository implements SnapshotRepository {
  readonly id = 'fake'
  readonly blobs = new Map<string, Uint8Array>()
  readonly snapshots = new Map<string, Uint8Array>()

  writer(): SnapshotBlobWriter {
    const put = async (_type: BlobType, data: Uint8Array): Promise<PutResult> => {
      const id = createHash('sha256').update(data).digest()
      const key = id.toString('hex')
      const stored = !this.blobs.has(key)
      if (stored) this.blobs.set(key, Uint8Array.from(data))
      return { id, stored, packedSize: stored ? data.length : 0 }
    }
    return {
      putBlob: put,
      async putFile(source: ReadableFile) {
        const buf = Buffer.alloc(64 * 1024)
        const chunks: Uint8Array[] = []
        let size = 0
        let stored = 0
        for (;;) {
          let n = 0
          while (n < buf.length) {
            const r = readSync(source.fd, buf, n, buf.length - n, null)
            if (r === 0) break
            n += r
          }
          if (n === 0) break
          const r = await put('data', buf.subarray(0, n))
          chunks.push(r.id)
          size += n
          stored += r.packedSize
          if (n < buf.length) break
        }
        return { chunks, size, stored }
      },
      async flush() {},
      async close() {},
    }
  }

  async getBlob(id: Uint8Array): Promise<Uint8Array> {
    const b = this.blobs.get(Buffer.from(id).toString('hex'))
    if (b === undefined) throw new Error('blob not found')
    return b
  }

  async hasBlob(id: Uint8Array): Promise<boolean> {
    return this.blobs.has(Buffer.from(id).toString('hex'))
  }

  async putSnapshot(uuid: string, data: Uint8Array): Promise<void> {
    this.snapshots.set(uuid, data)
  }

  async getSnapshot(uuid: string): Promise<Uint8Array> {
    const s = this.snapshots.get(uuid)
    if (s === undefined) throw new Error('snapshot not found')
    return s
  }

  async listSnapshots(): Promise<string[]> {
    return [...this.snapshots.keys()]
  }
}
