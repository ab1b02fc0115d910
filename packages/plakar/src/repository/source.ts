import type { WorkerEntry } from './blob-pool.js'

/**
 * What the write path reads: sources a layer above opens (the snapshot layer's files,
 * snapshot/file-source.ts), and the repository chunks, names, deduplicates, compresses and
 * encrypts. The repository never opens a user's file: it is handed bytes, through a Source.
 *
 * A writer made with a SourceSpec (Repository.writer({ source })) runs a reader of the spec's
 * on the main thread and, in its pipeline workers, the spec's worker entry, which serves one
 * of the same kind (servePipeline, pipeline-worker.ts). Items cross to the workers by
 * structured clone.
 *
 * CONTRACT
 * - The sealer calls task(items) once per batch of items, then open(k) for k = 0, 1, ... in
 *   order, each after the previous source was closed: the reader may read ahead of k.
 * - A Source is read to its end: `whole` when the reader has it all in memory already, else
 *   read(buf, offset, length) until it returns 0, with synchronous calls (a thread hand-off
 *   per read costs more here than the read, see sealer.ts). The bytes read are what is
 *   stored, whatever the size hint said.
 * - close(true) after a source was read through returns the item's metadata, sent back with
 *   the file's result (FileResult.meta) by structured clone; close(false) after a failure.
 *   close is called exactly once per opened source.
 * - open, read and close throw to fail the item: its putFile rejects with
 *   REPO_SOURCE_UNREADABLE, `name(item)` in the message and the error (its `code`, as
 *   ENOENT or the reader's own) as the cause; the writer goes on with the next item.
 */
export interface Source {
  readonly whole: Uint8Array | null
  read(buf: Uint8Array, offset: number, length: number): number
  close(ok: boolean): unknown
}

export interface SourceTask {
  open(k: number): Source | Promise<Source>
}

export interface SourceReader<S> {
  /** What the item is called in messages (a file's path). */
  name(item: S): string
  /** The item's expected size (a hint, for batching small items); undefined when unknown. */
  size(item: S): number | undefined
  task(items: readonly S[]): SourceTask
}

export interface SourceSpec<S> {
  /** The pipeline worker entry that serves `reader` (servePipeline). */
  readonly entry: WorkerEntry
  /**
   * Makes a reader: one per thread that seals (the main thread's, for the batches it seals
   * itself and to name and size items; each worker's, in servePipeline). A reader may keep
   * state across tasks.
   */
  readonly reader: () => SourceReader<S>
}
