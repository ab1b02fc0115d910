import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type CreateOptions, Repository } from '../../src/repository/index.js'
import { openStore, type Store } from '../../src/storage/index.js'

/** Cheap scrypt for tests; the default cost is exercised by the open-time test only. */
export const TEST_KDF = { N: 1 << 10, r: 8, p: 1 }
export const PASS = Buffer.from('correct horse battery staple')

export function tempDir(prefix = 'plakar-repo-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix))
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) }
}

export function memoryStore(): Store {
  return openStore(`memory://${randomBytes(8).toString('hex')}`)
}

export async function createRepo(
  store: Store,
  cacheDir: string | null,
  opts: Partial<CreateOptions> = {},
): Promise<Repository> {
  return Repository.create(store, {
    passphrase: PASS,
    compression: true,
    kdf: TEST_KDF,
    cacheDir,
    ...opts,
  })
}

export function openRepo(
  store: Store,
  cacheDir: string | null,
  passphrase: Uint8Array = PASS,
): Promise<Repository> {
  return Repository.open(store, { passphrase: async () => passphrase, cacheDir })
}
