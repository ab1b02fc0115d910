// ---- repository layer (owner: REPOSITORY) ----
export { RepositoryError } from './errors.js'
export * from './repository/index.js'
