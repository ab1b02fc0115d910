/**
 * The many-small-files dataset: `files` files in directories of 1,000 (d0000/f000.txt ...),
 * each 20 to 400 bytes of text that names its own path, so that no two files share content
 * and deduplication cannot shrink the tree. The shape of issue 15's million-file measurement;
 * a pure function of (files, seed), written fast enough to make a million files in about a
 * minute on a tmpfs.
 *
 * `touchManyFiles` rewrites a share of the files (every k-th one) with new content, the
 * change that makes a second backup add data and a first snapshot's removal free some.
 */
import fs from 'node:fs'
import path from 'node:path'
import { deriveSeed, Rng } from './rng.js'

export const FILES_PER_DIR = 1000
const MIN_SIZE = 20
const MAX_SIZE = 400
const WORDS =
  'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau'.split(
    ' ',
  )

function content(rng: Rng, name: string, generation: number): string {
  const size = MIN_SIZE + rng.int(MAX_SIZE - MIN_SIZE + 1)
  let s = `${name} ${generation}\n`
  while (s.length < size) s += `${WORDS[rng.int(WORDS.length)]} ${rng.next().toString(36)}\n`
  return s.slice(0, size)
}

function relative(i: number): { dir: string; name: string } {
  const d = Math.floor(i / FILES_PER_DIR)
  return { dir: `d${String(d).padStart(4, '0')}`, name: `f${String(i % FILES_PER_DIR).padStart(3, '0')}.txt` }
}

/** Writes the dataset at `root` (which must not exist yet). Returns the bytes written. */
export function writeManyFiles(root: string, files: number, seed: number): number {
  let bytes = 0
  let dir = ''
  for (let i = 0; i < files; i++) {
    const r = relative(i)
    if (r.dir !== dir) {
      dir = r.dir
      fs.mkdirSync(path.join(root, dir), { recursive: true })
    }
    const text = content(new Rng(deriveSeed(seed, i)), `${r.dir}/${r.name}`, 0)
    fs.writeFileSync(path.join(root, r.dir, r.name), text)
    bytes += text.length
  }
  return bytes
}

/** Rewrites every `every`-th file with generation `generation`'s content. Returns how many. */
export function touchManyFiles(
  root: string,
  files: number,
  seed: number,
  every: number,
  generation: number,
): number {
  let n = 0
  for (let i = generation % every; i < files; i += every) {
    const r = relative(i)
    const text = content(new Rng(deriveSeed(seed, i, generation)), `${r.dir}/${r.name}`, generation)
    fs.writeFileSync(path.join(root, r.dir, r.name), text)
    n++
  }
  return n
}
