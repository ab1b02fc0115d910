/**
 * Backends by URL scheme. A backend module exports a StoreFactory; storage/index.ts
 * registers the built-in ones, and a later backend (plakar://, postgres://) registers
 * itself the same way without any other code knowing its name.
 */
import { StorageError } from '../errors.js'
import { parseLocation } from './location.js'
import type { Store, StoreFactory } from './store.js'

const factories = new Map<string, StoreFactory>()

/** Register a backend. A scheme belongs to one factory: registering it twice is a bug. */
export function registerStore(factory: StoreFactory): void {
  const scheme = factory.scheme.toLowerCase()
  const existing = factories.get(scheme)
  if (existing !== undefined && existing !== factory) {
    throw new Error(`storage scheme ${scheme}: already registered`)
  }
  factories.set(scheme, factory)
}

/** The schemes that openStore understands, for help texts. */
export function storeSchemes(): string[] {
  return [...factories.keys()].sort()
}

/**
 * A Store for a location (URL or plain path, see location.ts). Does not touch the medium:
 * call create() or open() next. Unknown schemes and malformed locations fail with
 * `STORAGE_BAD_LOCATION`.
 */
export function openStore(location: string): Store {
  const url = parseLocation(location)
  const scheme = url.protocol.slice(0, -1).toLowerCase()
  const factory = factories.get(scheme)
  if (factory === undefined) {
    throw new StorageError(
      'STORAGE_BAD_LOCATION',
      `${location}: unknown storage scheme ${scheme}:// (known: ${storeSchemes().join(', ')})`,
    )
  }
  return factory.fromURL(url)
}
