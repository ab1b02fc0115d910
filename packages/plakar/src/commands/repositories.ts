import { Repository } from '../repository/index.js'
import { openStore, type Store } from '../storage/index.js'
import type { RepositoryProvider } from './context.js'

/**
 * The real repositories: a Store found by the location's scheme (storage/registry), and a
 * Repository over it that owns it, so that closing the repository closes the store.
 * Repository is an OpenedRepository as it is: nothing here adapts it.
 */
async function closing<T>(store: Store, f: () => Promise<T>): Promise<T> {
  try {
    return await f()
  } catch (err) {
    await store.close().catch(() => {})
    throw err
  }
}

export const repositories: RepositoryProvider = {
  async create(location, opts) {
    const store = openStore(location)
    return closing(store, () => Repository.create(store, { ...opts, ownsStore: true }))
  },
  async open(location, opts) {
    const store = openStore(location)
    return closing(store, () => Repository.open(store, { ...opts, ownsStore: true }))
  },
  store: openStore,
}
