import { openStore, Repository } from '@poolp/plakar'

/**
 * Creates an encrypted, compressed repository at `location` through the library with a
 * cheap KDF, so that each CLI run on it does not spend most of its time deriving the key.
 */
export async function createRepository(
  location: string,
  passphrase: string,
  opts: { packSize?: number; compression?: boolean } = {},
): Promise<void> {
  const store = openStore(location)
  const repo = await Repository.create(store, {
    passphrase: Buffer.from(passphrase),
    compression: true,
    kdf: { N: 1 << 10, r: 8, p: 1 },
    cacheDir: null,
    ...opts,
  })
  await repo.close()
  await store.close()
}
