/**
 * Counters a progress line reads while a clone or a sync runs. `files` and `bytes` are what
 * was copied so far: a clone's objects (those already at the destination not counted), a
 * sync's files (files taken whole from the base count too).
 */
export class TransferProgress {
  files = 0
  bytes = 0
  errors = 0
  /** Bytes to copy (a clone's current pass, a sync's snapshots), once listed. */
  total: number | undefined = undefined
}
