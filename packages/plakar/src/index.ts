// ---- repository layer (owner: REPOSITORY) ----
export { RepositoryError } from './errors.js'
export * from './repository/index.js'

// ---- storage layer (owner: STORAGE) ----
export { isPlakarError, PlakarError, StorageError, type StorageErrorCode } from './errors.js'
export * from './storage/index.js'
