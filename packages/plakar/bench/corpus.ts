/**
 * The benchmark corpus: a reproducible tree of about 50k small files (~0.5 GB, compressible
 * like source code and documents) under tree/, about 0.5 GB of big files (part of them
 * incompressible) under big/, and a modified variant of both (about 1% of the small files
 * changed, a few added and removed; a log appended to, pages of a database rewritten, bytes
 * inserted into the middle of an archive, one big file replaced by another).
 *
 * Same seed and scale, same bytes. Usage (from packages/plakar):
 *   node --import tsx bench/corpus.ts --out DIR [--seed 1] [--scale 1] [--variant original|modified]
 */
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { parseOrExit } from './args.js'
import { digestTree } from './corpus/digest.js'
import {
  CORPUS_VERSION,
  type CorpusPlan,
  type Modification,
  planCorpus,
  planModification,
} from './corpus/plan.js'
import { readState, setVariant, type Variant, writeCorpus } from './corpus/write.js'

export { digestTree, type TreeSummary } from './corpus/digest.js'
export type { Variant } from './corpus/write.js'

export interface Corpus {
  readonly root: string
  readonly plan: CorpusPlan
  readonly modification: Modification
  /** Switches the corpus in place (cheap: only the modified files are touched). */
  setVariant(variant: Variant): void
}

/**
 * Opens the corpus of (seed, scale) at `root`, writing it first if `root` holds nothing or
 * another corpus. Returns it in its original variant.
 */
/**
 * The corpus a bench script runs on: one directory per (seed, scale) under `work`, so that a
 * quick run does not rewrite the full corpus and every script shares it. Says how long it took.
 */
export function benchCorpus(work: string, seed: number, scale: number): Corpus {
  const started = performance.now()
  const corpus = ensureCorpus(path.join(work, `corpus-seed${seed}-scale${scale}`), seed, scale)
  console.error(`corpus ready at ${corpus.root} in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  return corpus
}

export function ensureCorpus(root: string, seed: number, scale: number): Corpus {
  const plan = planCorpus(seed, scale)
  const modification = planModification(plan)
  const state = readState(root)
  if (!state || state.seed !== seed || state.scale !== scale || state.version !== CORPUS_VERSION) {
    fs.rmSync(root, { recursive: true, force: true })
    fs.mkdirSync(root, { recursive: true })
    writeCorpus(root, plan)
  }
  const corpus: Corpus = {
    root,
    plan,
    modification,
    setVariant: (variant) => setVariant(root, plan, modification, variant),
  }
  corpus.setVariant('original')
  return corpus
}

function main(): void {
  const { values } = parseOrExit('corpus', () =>
    parseArgs({
      options: {
        out: { type: 'string' },
        seed: { type: 'string', default: '1' },
        scale: { type: 'string', default: '1' },
        variant: { type: 'string', default: 'original' },
        digest: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }),
  )
  const seed = Number(values.seed)
  const scale = Number(values.scale)
  const variant = values.variant
  if (values.help || !values.out) {
    console.log('usage: corpus.ts --out DIR [--seed N] [--scale S] [--variant original|modified] [--digest]')
    process.exit(values.help ? 0 : 2)
  }
  if (
    !Number.isInteger(seed) ||
    !(scale > 0 && scale <= 4) ||
    (variant !== 'original' && variant !== 'modified')
  ) {
    console.error('corpus: --seed must be an integer, --scale in (0, 4], --variant original or modified')
    process.exit(2)
  }
  const root = path.resolve(values.out)
  const started = performance.now()
  const corpus = ensureCorpus(root, seed, scale)
  corpus.setVariant(variant)
  const seconds = (performance.now() - started) / 1000
  console.log(`corpus seed ${seed} scale ${scale} (${variant}) at ${root} in ${seconds.toFixed(1)} s`)
  for (const part of ['tree', 'big']) {
    const s = digestTree(path.join(root, part))
    const digest = values.digest ? `  sha256 ${s.digest}` : ''
    console.log(
      `  ${part}: ${s.files} files, ${s.dirs} dirs, ${s.links} links, ${(s.bytes / 1e6).toFixed(1)} MB${digest}`,
    )
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main()
