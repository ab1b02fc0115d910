/**
 * Chunking: content-defined cutting of file content into blobs. A chunker is found by the
 * stable name the repository config persists (`fastcdc-v1`).
 */
import { RepositoryError } from '../errors.js'
import type { Chunker, ChunkerFactory, ChunkerParams } from './chunker.js'
import { FASTCDC_NAME, fastcdc } from './fastcdc.js'

export type { Chunker, ChunkerFactory, ChunkerParams } from './chunker.js'
export { FASTCDC_NAME, fastcdc, validateChunkerParams } from './fastcdc.js'
export { GEAR, GEAR_SEED } from './gear.js'

const chunkers = new Map<string, ChunkerFactory>([[FASTCDC_NAME, fastcdc]])

export function registerChunker(name: string, factory: ChunkerFactory): void {
  chunkers.set(name, factory)
}

export function chunkerFor(name: string, params: ChunkerParams): Chunker {
  const factory = chunkers.get(name)
  if (!factory) throw new RepositoryError('REPO_UNSUPPORTED', `unknown chunking algorithm "${name}"`)
  return factory(params)
}
