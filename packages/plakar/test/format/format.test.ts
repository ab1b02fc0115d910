import { randomBytes } from 'node:crypto'
import { isPlakarError } from '@poolp/plakar'
import { describe, expect, it } from 'vitest'
import { codecByName, codecsByTag } from '../../src/compression/index.js'
import { blobIdFunction } from '../../src/crypto/index.js'
import {
  buildPack,
  decodeIndex,
  Envelope,
  encodeIndex,
  PACK_TRAILER,
  type PackEntry,
  packHeaderRange,
  readPackHeader,
} from '../../src/format/index.js'

function envelope(encrypted: boolean, compressed = true): Envelope {
  return new Envelope({
    data: encrypted ? randomBytes(32) : null,
    blobId: blobIdFunction(encrypted ? randomBytes(32) : null),
    codec: compressed ? codecByName('zstd') : null,
    codecs: codecsByTag(),
  })
}

function corrupt(fn: () => unknown, pattern: RegExp): void {
  try {
    fn()
  } catch (err) {
    expect(isPlakarError(err, 'REPO_CORRUPT')).toBe(true)
    expect((err as Error).message).toMatch(pattern)
    return
  }
  throw new Error('expected REPO_CORRUPT')
}

describe.each([true, false])('envelope (encrypted: %s)', (encrypted) => {
  const env = envelope(encrypted)
  const text = Buffer.from('some compressible text, '.repeat(400))
  const noise = randomBytes(4000)

  it('round-trips blobs, compressing only what shrinks', () => {
    for (const data of [text, noise, Buffer.alloc(0)]) {
      const id = env.blobId(data)
      const sealed = env.sealBlob('data', id, data)
      expect(Buffer.from(env.openBlob('data', id, sealed)).equals(data)).toBe(true)
    }
    const overhead = encrypted ? 28 : 0
    expect(env.sealBlob('data', env.blobId(text), text).length).toBeLessThan(text.length / 10)
    // Incompressible: stored as is, one tag byte of overhead (plus the AEAD's).
    expect(env.sealBlob('data', env.blobId(noise), noise).length).toBe(noise.length + 1 + overhead)
  })

  it('reports damaged blob bytes as REPO_CORRUPT naming the blob', () => {
    const id = env.blobId(text)
    const sealed = Buffer.from(env.sealBlob('data', id, text))
    sealed[Math.floor(sealed.length / 2)]! ^= 0x40
    const hex = Buffer.from(id).toString('hex')
    corrupt(() => env.openBlob('data', id, sealed), new RegExp(`blob ${hex}`))
    // Right bytes under another id: refused too.
    const other = env.blobId(noise)
    corrupt(() => env.openBlob('data', other, env.sealBlob('data', id, text)), /blob/)
  })

  it('round-trips objects and detects damage', () => {
    const sealed = Buffer.from(env.sealObject('snapshot x', text))
    expect(Buffer.from(env.openObject('snapshot x', sealed, 'snapshot x')).equals(text)).toBe(true)
    sealed[sealed.length - 3]! ^= 1
    corrupt(() => env.openObject('snapshot x', sealed, 'snapshot x'), /snapshot x/)
  })

  it('builds packs whose header lists their blobs (index rebuild source)', () => {
    const blobs = [text, noise, randomBytes(10)].map((data) => {
      const id = env.blobId(data)
      return { id, data, sealed: env.sealBlob('data', id, data) }
    })
    const entries: PackEntry[] = []
    let at = 0
    for (const b of blobs) {
      entries.push({ type: 'data', id: b.id, offset: at, length: b.sealed.length, rawLength: b.data.length })
      at += b.sealed.length
    }
    const pack = buildPack(
      env,
      blobs.map((b) => b.sealed),
      entries,
    )
    expect(pack.name).toMatch(/^[0-9a-f]{64}$/)
    const range = packHeaderRange(pack.name, pack.bytes.subarray(-PACK_TRAILER), pack.bytes.length)
    const header = pack.bytes.subarray(range.offset, range.offset + range.length)
    const read = readPackHeader(env, pack.name, header, range.offset)
    expect(read.map((e) => ({ ...e, id: Buffer.from(e.id) }))).toEqual(
      entries.map((e) => ({ ...e, id: Buffer.from(e.id) })),
    )
    for (const e of read) {
      const raw = env.openBlob(e.type, e.id, pack.bytes.subarray(e.offset, e.offset + e.length))
      expect(raw.length).toBe(e.rawLength)
    }
    corrupt(() => packHeaderRange(pack.name, Buffer.from('xxxxxxxx'), pack.bytes.length), /bad trailer/)
    const damaged = Buffer.from(header)
    damaged[damaged.length - 1]! ^= 1
    corrupt(() => readPackHeader(env, pack.name, damaged, range.offset), /header/)
  })

  it('encodes index objects and decodes them strictly', () => {
    const packs = [
      {
        pack: 'ab'.repeat(32),
        entries: [{ type: 'tree' as const, id: randomBytes(32), offset: 0, length: 100, rawLength: 300 }],
      },
      { pack: 'cd'.repeat(32), entries: [] },
    ]
    const { name, bytes } = encodeIndex(env, packs)
    const back = decodeIndex(env, name, bytes)
    expect(back.map((p) => p.pack)).toEqual(packs.map((p) => p.pack))
    expect(Buffer.from(back[0]!.entries[0]!.id).equals(Buffer.from(packs[0]!.entries[0]!.id))).toBe(true)
    expect(back[0]!.entries[0]).toMatchObject({ type: 'tree', offset: 0, length: 100, rawLength: 300 })
    corrupt(() => decodeIndex(env, name, Buffer.from(bytes).subarray(0, bytes.length - 1)), /index/)
  })
})
