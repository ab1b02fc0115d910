/**
 * Errors of @poolp/plakar.
 *
 * Every error plakar raises on purpose is a PlakarError. Its `code` (a PlakarErrorCode) is
 * stable across releases: it is persisted in logs and callers, scripts and tests branch on it,
 * so a code is never renamed. Its `name` is its class, the failure underneath (if any) is its
 * `cause`, and its message is one line meant for a user. Each layer has its own subclass and
 * code prefix (STORAGE_, REPO_, SNAPSHOT_, MAINT_, TRANSFER_, CLI_); callers branch on the code.
 * `isPlakarError(err, code?)` also recognizes an error raised by another copy of the package
 * (src and dist loaded in one process), where `instanceof` fails. Anything else escaping
 * plakar, but a system error (errno), is a bug and shows its stack.
 *
 * The command line prints a PlakarError as its one line and exits 1 (2 for CLI_USAGE).
 */
const BRAND = Symbol.for('@poolp/plakar:PlakarError')

/** Every code plakar raises, layer by layer (documented with each layer's union below). */
export type PlakarErrorCode =
  | StorageErrorCode
  | RepositoryErrorCode
  | SnapshotErrorCode
  | MaintenanceErrorCode
  | TransferErrorCode
  | CliErrorCode

export class PlakarError extends Error {
  readonly code: PlakarErrorCode

  constructor(code: PlakarErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }

  get [BRAND](): true {
    return true
  }
}

/** True for a PlakarError (of `code`, when given), also one from another copy of the package. */
export function isPlakarError<C extends PlakarErrorCode>(
  err: unknown,
  code?: C,
): err is PlakarError & { readonly code: C }
/** A code known only at run time (from a script, a table of cases); a literal must be a known code. */
export function isPlakarError<S extends string>(
  err: unknown,
  code: string extends S ? S : never,
): err is PlakarError
export function isPlakarError(err: unknown, code?: string): boolean {
  if (typeof err !== 'object' || err === null || !(BRAND in err)) return false
  return code === undefined || (err as PlakarError).code === code
}

// ---- storage ----

/** Codes a Store raises; see the contract in storage/store.ts. */
export type StorageErrorCode =
  /** A name outside the allowed alphabet or length; nothing was touched. */
  | 'STORAGE_BAD_NAME'
  /**
   * A location that cannot be parsed, of an unknown scheme, whose parent does not exist, with
   * something else in the way (a file, a non-empty directory, another program's database),
   * or holding a storage layout newer than this plakar.
   */
  | 'STORAGE_BAD_LOCATION'
  /** put of different bytes under an existing name, or create() where a plakar store already is. */
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
  /** A plakar:// server refused the token, or the request for the token's access level. */
  | 'STORAGE_DENIED'
  /** A plakar:// connection failed, dropped, timed out, or the server broke the protocol. */
  | 'STORAGE_REMOTE'

export class StorageError extends PlakarError {
  declare readonly code: StorageErrorCode

  constructor(code: StorageErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options)
  }
}

// ---- snapshot ----

/** Codes the snapshot layer raises. */
export type SnapshotErrorCode =
  /** No snapshot matches the id or prefix the user gave. */
  | 'SNAPSHOT_NOT_FOUND'
  /** A prefix matches several snapshots; the message lists them. */
  | 'SNAPSHOT_AMBIGUOUS'
  /** A path that the snapshot does not hold. */
  | 'SNAPSHOT_PATH_NOT_FOUND'
  /** A snapshot header or tree blob that does not decode, or of an unknown version. */
  | 'SNAPSHOT_CORRUPT'
  /** A snapshot entry that would write outside the restore target (crafted or damaged). */
  | 'SNAPSHOT_UNSAFE'
  /** The restore target cannot be used (not a directory, not writable, ...). */
  | 'SNAPSHOT_TARGET'
  /** A path given to push that does not exist or cannot be read at all. */
  | 'SNAPSHOT_SOURCE'

export class SnapshotError extends PlakarError {
  declare readonly code: SnapshotErrorCode

  constructor(code: SnapshotErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options)
  }
}

// ---- maintenance ----

/** Codes maintenance raises (src/maintenance: check, rm, keep, prune, repair). */
export type MaintenanceErrorCode =
  /** A bad filter or policy (a duration that does not parse, a policy with no rule). */
  | 'MAINT_USAGE'
  /**
   * Prune or repair refused to run: what it would need to decide safely is damaged or
   * unreadable (a snapshot that does not open, a damaged index object). Nothing was changed.
   */
  | 'MAINT_UNSAFE'

export class MaintenanceError extends PlakarError {
  declare readonly code: MaintenanceErrorCode

  constructor(code: MaintenanceErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options)
  }
}

// ---- transfer ----

/** Codes clone and sync raise (src/transfer). */
export type TransferErrorCode =
  /** The destination holds another repository (another config), or one of its objects differs. */
  | 'TRANSFER_MISMATCH'
  /** The source kept changing under the copy (objects deleted as it ran, pass after pass). */
  | 'TRANSFER_UNSTABLE'

export class TransferError extends PlakarError {
  declare readonly code: TransferErrorCode

  constructor(code: TransferErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options)
  }
}

// ---- command line ----

/** Codes the command line raises; each maps to an exit status (see commands/cli.ts). */
export type CliErrorCode =
  /** Unknown command or flag, missing or extra argument: exit status 2. */
  | 'CLI_USAGE'
  /** No passphrase could be obtained, or the two entries at create differ. */
  | 'CLI_PASSPHRASE'
  /** A file named on the command line (e.g. -keyfile) cannot be read. */
  | 'CLI_FILE'

export class CliError extends PlakarError {
  declare readonly code: CliErrorCode

  constructor(code: CliErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options)
  }
}

// ---- repository ----

/**
 * Codes the repository layer raises (src/repository, and the leaves it uses). The leaves
 * (format/, crypto/, compression/, chunking/) raise RepositoryError too, on purpose: they
 * are the repository's formats and algorithms, a failure in them means the repository's
 * bytes are damaged or unsupported, and a class of their own would only be mapped one to
 * one onto these codes at the repository's edge. errors.ts is the package's root, so the
 * import points down from every layer.
 */
export type RepositoryErrorCode =
  /** The passphrase does not open any key of the repository (the key canary did not match). */
  | 'REPO_BAD_PASSPHRASE'
  /** Stored bytes fail their MAC, hash or structure check; the message names the object or blob. */
  | 'REPO_CORRUPT'
  /** No repository at the location (no config object). */
  | 'REPO_NOT_FOUND'
  /** create() over a location that already holds a repository. */
  | 'REPO_EXISTS'
  /** The repository was written by a newer format version, or names an unknown algorithm. */
  | 'REPO_UNSUPPORTED'
  /** A blob id that no index of the repository names. */
  | 'REPO_BLOB_NOT_FOUND'
  /** A snapshot uuid that the repository does not hold. */
  | 'REPO_SNAPSHOT_NOT_FOUND'
  /** A file given to the writer could not be read (vanished, unreadable); the backup goes on. */
  | 'REPO_SOURCE_UNREADABLE'
  /** Invalid arguments (bad uuid, bad chunking parameters, a method called after close). */
  | 'REPO_USAGE'
  /**
   * A lock could not be had (another prune or repair holds the repository), or a writer's
   * lock went stale before it committed (locks.ts): nothing was committed.
   */
  | 'REPO_LOCKED'

export class RepositoryError extends PlakarError {
  declare readonly code: RepositoryErrorCode

  constructor(code: RepositoryErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options)
  }
}
