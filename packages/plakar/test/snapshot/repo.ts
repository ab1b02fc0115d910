import { randomBytes } from 'node:crypto'
import { openStore, Repository } from '@poolp/plakar'

/** A real repository over an in-memory store, with a cheap KDF; caches under `cacheDir`. */
export async function memoryRepository(cacheDir: string | null): Promise<Repository> {
  const store = openStore(`memory://${randomBytes(8).toString('hex')}`)
  return Repository.create(store, {
    passphrase: Buffer.from('test passphrase'),
    compression: true,
    kdf: { N: 1 << 10, r: 8, p: 1 },
    cacheDir,
  })
}
