import { createHash } from 'node:crypto'

/**
 * The FastCDC gear table, part of the repository format (docs/plakar-format.md, "Chunking"):
 * entry i is the first four bytes, big-endian, of SHA-256("plakar/fastcdc-v1 gear" || byte i),
 * read as a signed 32-bit integer. Changing it changes every chunk boundary, so it is derived
 * rather than pasted, and frozen by a known-answer test.
 */
export const GEAR_SEED = 'plakar/fastcdc-v1 gear'

function buildGear(): Int32Array {
  const gear = new Int32Array(256)
  const seed = Buffer.from(GEAR_SEED, 'ascii')
  for (let i = 0; i < 256; i++) {
    const digest = createHash('sha256').update(seed).update(Uint8Array.of(i)).digest()
    gear[i] = digest.readInt32BE(0)
  }
  return gear
}

export const GEAR: Int32Array = buildGear()
