/** What removing snapshots needs from a repository (Repository has it). */
export interface SnapshotRemover {
  readonly store: { readonly concurrency: number }
  deleteSnapshot(uuid: string): Promise<void>
}

/**
 * Removes the snapshot objects `uuids`, up to the store's concurrency at once, calling
 * `removed` after each one is gone. Only snapshot objects go: their blobs stay until a
 * prune finds no snapshot using them. Removing an absent snapshot succeeds, so a run
 * killed halfway is finished by running it again. The first failure stops new removals
 * and is thrown once those in flight settle.
 */
export async function removeSnapshots(
  repo: SnapshotRemover,
  uuids: readonly string[],
  removed: (uuid: string) => void = () => {},
): Promise<void> {
  let next = 0
  let failure: unknown
  const worker = async () => {
    while (failure === undefined && next < uuids.length) {
      const uuid = uuids[next++]!
      try {
        await repo.deleteSnapshot(uuid)
        removed(uuid)
      } catch (err) {
        failure ??= err
      }
    }
  }
  const width = Math.max(1, Math.min(uuids.length, repo.store.concurrency))
  await Promise.all(Array.from({ length: width }, worker))
  if (failure !== undefined) throw failure
}
