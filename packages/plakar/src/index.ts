// The package's public surface, one line per layer (biome keeps these sorted):
export * from './commands/index.js'
export { isPlakarError, PlakarError, RepositoryError, StorageError, type StorageErrorCode } from './errors.js'
export * from './repository/index.js'
export * from './snapshot/index.js'
export * from './storage/index.js'
