/**
 * Storage: where a repository's bytes live.
 *
 * - Store: a flat namespace of immutable objects by kind (store.ts holds the contract).
 * - location: what the user writes after `on` (a path or a URL); its scheme picks the
 *   backend through the registry: fs (also plain paths), sqlite, postgres, plakar, memory.
 * - decorators: ReadOnlyStore (FaultyStore, for tests, is in @poolp/plakar/testing).
 */
import { registerStore } from './registry.js'
import { remoteStoreFactories } from './remote/store-remote.js'
import { fsStoreFactory } from './store-fs.js'
import { memoryStoreFactory } from './store-memory.js'
import { postgresStoreFactories } from './store-postgres.js'
import { sqliteStoreFactory } from './store-sqlite.js'

registerStore(fsStoreFactory)
registerStore(sqliteStoreFactory)
registerStore(memoryStoreFactory)
for (const f of [...remoteStoreFactories, ...postgresStoreFactories]) registerStore(f)

export { DEFAULT_LOCATION, defaultLocation, parseLocation } from './location.js'
export { openStore, registerStore, storeSchemes } from './registry.js'
export { RemoteStore } from './remote/store-remote.js'
export { OBJECT_KINDS, type ObjectInfo, type ObjectKind, type Store, type StoreFactory } from './store.js'
export { FsStore } from './store-fs.js'
export { MemoryStore } from './store-memory.js'
export { PostgresStore } from './store-postgres.js'
export { ReadOnlyStore } from './store-readonly.js'
export { SqliteStore } from './store-sqlite.js'
