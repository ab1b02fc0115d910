/**
 * Fixtures for tests of code built on plakar; not for production use.
 *
 * - FaultyStore: wraps a Store and makes chosen calls fail, tear or corrupt, as media and
 *   crashes do; it records every call. Pair it with a memory:// store (openStore) or any
 *   other backend.
 */
export { type Call, type Fault, FaultyStore, type StoreMethod } from './storage/store-faulty.js'
