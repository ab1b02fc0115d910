import { randomBytes } from 'node:crypto'
import { isPlakarError } from '@poolp/plakar'
import { describe, expect, it } from 'vitest'
import {
  aeadOpen,
  aeadSeal,
  blobIdFunction,
  deriveMasterKeys,
  newMasterKey,
  parseKeyFile,
  unwrapMasterKey,
  wrapMasterKey,
} from '../../src/crypto/index.js'

const KDF = { N: 1 << 10, p: 1 }

describe('blob ids', () => {
  it('are HMAC-SHA256 under the id key (RFC 4231 test case 2)', () => {
    const id = blobIdFunction(Buffer.from('Jefe'))(Buffer.from('what do ya want for nothing?'))
    expect(id.toString('hex')).toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843')
  })

  it('are SHA-256 without a key (FIPS 180-2 "abc")', () => {
    expect(blobIdFunction(null)(Buffer.from('abc')).toString('hex')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    )
  })
})

describe('AES-256-GCM', () => {
  const key = randomBytes(32)
  const aad = Buffer.from('plakar/v1 test')

  it('round-trips and uses a fresh nonce each time', () => {
    const msg = randomBytes(1000)
    const a = aeadSeal(key, aad, [msg.subarray(0, 1), msg.subarray(1)])
    const b = aeadSeal(key, aad, [msg])
    expect(a.length).toBe(1000 + 28)
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false)
    expect(aeadOpen(key, aad, a)?.equals(msg)).toBe(true)
    expect(aeadOpen(key, aad, b)?.equals(msg)).toBe(true)
  })

  it('rejects a flipped bit, another aad, another key, a truncation', () => {
    const sealed = Buffer.from(aeadSeal(key, aad, [Buffer.from('secret')]))
    for (let i = 0; i < sealed.length; i += 5) {
      const bad = Buffer.from(sealed)
      bad[i]! ^= 1
      expect(aeadOpen(key, aad, bad)).toBeNull()
    }
    expect(aeadOpen(key, Buffer.from('other'), sealed)).toBeNull()
    expect(aeadOpen(randomBytes(32), aad, sealed)).toBeNull()
    expect(aeadOpen(key, aad, sealed.subarray(0, 20))).toBeNull()
  })
})

describe('key objects', () => {
  const config = Buffer.from('{"version":1}')

  it('unwrap the master key with the right passphrase only', async () => {
    const master = newMasterKey()
    const file = parseKeyFile('k', await wrapMasterKey(Buffer.from('pass'), master, config, KDF))
    expect(file.kdf).toMatchObject({ algorithm: 'scrypt', N: 1 << 10, r: 8, p: 1 })
    expect((await unwrapMasterKey('k', file, Buffer.from('pass'), config))?.equals(master)).toBe(true)
    expect(await unwrapMasterKey('k', file, Buffer.from('Pass'), config)).toBeNull()
  })

  it('tell a damaged key or config from a wrong passphrase', async () => {
    const bytes = await wrapMasterKey(Buffer.from('pass'), newMasterKey(), config, KDF)
    const file = parseKeyFile('k', bytes)
    const wrapped = Buffer.from(file.wrapped, 'base64')
    wrapped[20]! ^= 1
    const damaged = { ...file, wrapped: wrapped.toString('base64') }
    await expect(unwrapMasterKey('k', damaged, Buffer.from('pass'), config)).rejects.toMatchObject({
      code: 'REPO_CORRUPT',
    })
    await expect(unwrapMasterKey('k', file, Buffer.from('pass'), Buffer.from('{}'))).rejects.toMatchObject({
      code: 'REPO_CORRUPT',
    })
    expect(() => parseKeyFile('k', Buffer.from('not json'))).toThrow(/not valid JSON/)
  })

  it('refuse KDF parameters that would exhaust the machine', async () => {
    const file = parseKeyFile('k', await wrapMasterKey(Buffer.from('p'), newMasterKey(), config, KDF))
    const hostile = { ...file, kdf: { ...file.kdf, N: 1 << 30 } }
    try {
      await unwrapMasterKey('k', hostile, Buffer.from('p'), config)
      expect.unreachable()
    } catch (err) {
      expect(isPlakarError(err, 'REPO_UNSUPPORTED')).toBe(true)
    }
  })

  it('derive distinct, repository-bound working keys', () => {
    const master = newMasterKey()
    const a = deriveMasterKeys(master, '00'.repeat(16))
    const b = deriveMasterKeys(master, '11'.repeat(16))
    expect(a.data.equals(a.id)).toBe(false)
    expect(a.data.equals(b.data)).toBe(false)
    expect(deriveMasterKeys(master, '00'.repeat(16)).id.equals(a.id)).toBe(true)
  })
})
