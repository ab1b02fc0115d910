/**
 * How big an index object may grow. It is sealed and read whole (decrypted, decompressed,
 * decoded into memory), so every reader, a sync, a check, a prune, holds one at a time: a
 * bound on it is a bound on their memory. Writers stop at whichever comes first, and never
 * split a pack (a pack's blobs are bounded by the pack size anyway). Readers accept any size:
 * objects written before the bound (one per 32 packs, however many blobs) still read.
 */
/** Packs per index object. */
export const INDEX_PACKS = 4096
/** Blobs per index object: about 2.5 MB sealed. */
export const INDEX_BLOBS = 65_536
