/**
 * Errors of @poolp/plakar.
 *
 * Every error the package raises on purpose is a PlakarError with a stable `code`
 * (persisted in logs and branched on by callers and tests; never rename one). A layer adds
 * its own subclass below, with its own code prefix (STORAGE_, REPO_, SNAPSHOT_, CLI_).
 * The message is one line meant for a user; anything without a code is a bug and shows
 * its stack. This file is shared by the layers: append, never rewrite another's section.
 */
const BRAND = Symbol.for('@poolp/plakar:PlakarError')

export class PlakarError extends Error {
  readonly code: string

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }

  get [BRAND](): true {
    return true
  }
}

/**
 * True when `err` is a PlakarError (with `code`, when given). Unlike `instanceof`, also true
 * for one raised by another copy of the package (src and dist loaded in one process).
 */
export function isPlakarError(err: unknown, code?: string): err is PlakarError {
  if (typeof err !== 'object' || err === null || !(BRAND in err)) return false
  return code === undefined || (err as PlakarError).code === code
}

// ---- storage (owner: STORAGE) ----

/** Codes a Store raises; see the contract in storage/store.ts. */
export type StorageErrorCode =
  /** A name outside the allowed alphabet or length; nothing was touched. */
  | 'STORAGE_BAD_NAME'
  /** A location that cannot be parsed or whose parent does not exist, or an unknown scheme. */
  | 'STORAGE_BAD_LOCATION'
  /** put of different bytes under an existing name, or create() over an existing repository. */
  | 'STORAGE_EXISTS'
  /** get of a missing object, or open() of a location that holds no repository. */
  | 'STORAGE_NOT_FOUND'
  /** A range read past the end of an object. */
  | 'STORAGE_SHORT_READ'
  /** A write through a read-only store. */
  | 'STORAGE_READ_ONLY'
  /** The medium failed (I/O error, disk full, permission, database error). */
  | 'STORAGE_IO'
  /** A method called after close(). */
  | 'STORAGE_CLOSED'
  /** A failure raised on purpose by the fault-injecting store (tests only). */
  | 'STORAGE_INJECTED'

export class StorageError extends PlakarError {
  declare readonly code: StorageErrorCode

  constructor(code: StorageErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
  }
}
