import { randomBytes } from 'node:crypto'
import { openStore, Repository } from '@poolp/plakar'
import { MemoryStore } from '@poolp/plakar/storage'

/**
 * A real repository over an in-memory store, with a cheap KDF. Its close() also frees the
 * memory store (a memory:// store otherwise lives until the process exits).
 */
export async function memoryRepository(cacheDir: string | null): Promise<Repository> {
  const store = openStore(`memory://${randomBytes(8).toString('hex')}`)
  const repo = await Repository.create(store, {
    passphrase: Buffer.from('test passphrase'),
    compression: true,
    kdf: { N: 1 << 10, r: 8, p: 1 },
    cacheDir,
  })
  const close = repo.close.bind(repo)
  repo.close = async () => {
    await close()
    if (store instanceof MemoryStore) await store.destroy()
  }
  return repo
}
