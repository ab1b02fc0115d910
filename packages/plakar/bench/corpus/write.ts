/**
 * Materialises a corpus plan on disk and switches it between its two variants in place.
 *
 * The modified variant is reached by rewriting, adding and removing only the files the
 * modification names, so that backup tools see what they would see on a real machine: the
 * same inodes for unchanged files, new mtimes for changed ones.
 */
import fs from 'node:fs'
import path from 'node:path'
import { CORPUS_VERSION, type CorpusPlan, content, type Modification, modifiedContent } from './plan.js'

export type Variant = 'original' | 'modified'

export interface CorpusState {
  readonly version: number
  readonly seed: number
  readonly scale: number
  readonly variant: Variant
}

/** Written beside (not inside) tree/ and big/, so backups never include it. */
const STATE_FILE = 'corpus.json'

export function readState(root: string): CorpusState | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(root, STATE_FILE), 'utf8')) as CorpusState
  } catch {
    return undefined
  }
}

function writeState(root: string, state: CorpusState): void {
  fs.writeFileSync(path.join(root, STATE_FILE), JSON.stringify(state, null, 2) + '\n')
}

/** Writes the original variant into `root` (which must not hold tree/ or big/ yet). */
export function writeCorpus(root: string, plan: CorpusPlan): void {
  fs.rmSync(path.join(root, STATE_FILE), { force: true })
  for (const dir of plan.dirs) fs.mkdirSync(path.join(root, dir), { recursive: true })
  for (const file of plan.files) fs.writeFileSync(path.join(root, file.path), content(file))
  for (const link of plan.links) fs.symlinkSync(link.target, path.join(root, link.path))
  writeState(root, { version: CORPUS_VERSION, seed: plan.seed, scale: plan.scale, variant: 'original' })
}

/**
 * Switches an existing corpus to `variant` by touching only what the modification names.
 * Idempotent: switching to the variant it already holds changes nothing.
 */
export function setVariant(root: string, plan: CorpusPlan, mod: Modification, variant: Variant): void {
  const state = readState(root)
  if (!state || state.seed !== plan.seed || state.scale !== plan.scale || state.version !== CORPUS_VERSION) {
    throw new Error(`${root} does not hold the corpus of seed ${plan.seed} at scale ${plan.scale}`)
  }
  if (state.variant === variant) return
  fs.rmSync(path.join(root, STATE_FILE))
  const at = (p: string) => path.join(root, p)
  if (variant === 'modified') {
    for (const change of mod.changed) fs.writeFileSync(at(change.base.path), modifiedContent(change))
    for (const file of mod.removed) fs.rmSync(at(file.path))
    for (const dir of mod.addedDirs) fs.mkdirSync(at(dir), { recursive: true })
    for (const file of mod.added) fs.writeFileSync(at(file.path), content(file))
  } else {
    for (const file of mod.added) fs.rmSync(at(file.path), { force: true })
    for (const dir of mod.addedDirs) fs.rmSync(at(dir), { recursive: true, force: true })
    for (const file of mod.removed) fs.writeFileSync(at(file.path), content(file))
    for (const change of mod.changed) fs.writeFileSync(at(change.base.path), content(change.base))
  }
  writeState(root, { ...state, variant })
}
