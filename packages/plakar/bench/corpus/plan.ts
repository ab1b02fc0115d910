/**
 * What the corpus holds, as a pure function of (seed, scale): the small-file tree, the big
 * files, and the modification that turns the original into the modified variant.
 *
 * Paths are relative to the corpus root and use '/' ('tree/...' and 'big/...'). Content is
 * not stored in the plan: each file names a content kind, a size and its own seed, and
 * `content()` regenerates its bytes on demand, so a file can be rewritten to either variant
 * at any time without keeping a pristine copy.
 */
import { type ContentKind, generate, word } from './content.js'
import { deriveSeed, Rng } from './rng.js'

/** Bumped whenever the bytes a (seed, scale) produces change. */
export const CORPUS_VERSION = 1

export interface FileEntry {
  readonly path: string
  readonly kind: ContentKind
  readonly size: number
  readonly seed: number
}

export interface LinkEntry {
  readonly path: string
  readonly target: string
}

/** How a changed file differs from its original (see `modifiedContent`). */
export type ChangeOp = 'append' | 'edit' | 'rewrite' | 'pages' | 'insert'

export interface Change {
  readonly base: FileEntry
  readonly op: ChangeOp
  readonly seed: number
  /** Bytes appended, inserted, or the new size, depending on op. */
  readonly amount: number
}

export interface CorpusPlan {
  readonly seed: number
  readonly scale: number
  /** Every directory, parents before children (including empty ones). */
  readonly dirs: readonly string[]
  readonly files: readonly FileEntry[]
  readonly links: readonly LinkEntry[]
}

export interface Modification {
  readonly changed: readonly Change[]
  readonly added: readonly FileEntry[]
  readonly addedDirs: readonly string[]
  readonly removed: readonly FileEntry[]
}

const EXTENSIONS: Record<ContentKind, readonly string[]> = {
  code: ['ts', 'c', 'go', 'py', 'rs', 'h'],
  doc: ['md', 'txt', 'rst', 'html'],
  data: ['json', 'csv'],
  log: ['log'],
  binary: ['png', 'jpg', 'gz', 'woff2'],
  mixed: ['bin'],
}

const MiB = 1024 * 1024

/** The big files at scale 1: about 0.5 GB, roughly 40% of it incompressible. */
const BIG_FILES: readonly { name: string; kind: ContentKind; mib: number }[] = [
  { name: 'logs.txt', kind: 'log', mib: 128 },
  { name: 'db.bin', kind: 'mixed', mib: 96 },
  { name: 'media-1.mkv', kind: 'binary', mib: 96 },
  { name: 'media-2.mp4', kind: 'binary', mib: 64 },
  { name: 'archive.tar', kind: 'code', mib: 64 },
  { name: 'disk.img', kind: 'mixed', mib: 64 },
]

function smallKind(rng: Rng): ContentKind {
  const r = rng.float()
  return r < 0.47 ? 'code' : r < 0.72 ? 'doc' : r < 0.9 ? 'data' : 'binary'
}

/** Mostly 1-32 KiB, some tiny, a few up to 256 KiB: about 10.5 KiB on average. */
function smallSize(rng: Rng): number {
  const r = rng.float()
  if (r < 0.01) return 0
  if (r < 0.25) return rng.logRange(64, 1023)
  if (r < 0.97) return rng.logRange(1024, 32 * 1024)
  return rng.logRange(64 * 1024, 256 * 1024)
}

function scaled(mib: number, scale: number): number {
  return Math.max(64 * 1024, Math.round((mib * MiB * scale) / 4096) * 4096)
}

export function planCorpus(seed: number, scale: number): CorpusPlan {
  const rng = new Rng(deriveSeed(seed, 'tree'))
  const fileCount = Math.max(20, Math.round(50_000 * scale))
  const dirCount = Math.max(2, Math.round(fileCount / 25))
  const dirs: { path: string; depth: number }[] = [{ path: 'tree', depth: 0 }]
  const taken = new Set<string>(['tree'])
  while (dirs.length < dirCount) {
    let parent = rng.pick(dirs)
    while (parent.depth >= 6) parent = rng.pick(dirs)
    let path = `${parent.path}/${word(rng)}`
    if (taken.has(path)) path += `-${dirs.length.toString(36)}`
    taken.add(path)
    dirs.push({ path, depth: parent.depth + 1 })
  }

  const files: FileEntry[] = []
  for (let i = 0; i < fileCount; i++) {
    const dir = rng.pick(dirs).path
    // About 2% are copies of an earlier file (vendored code, licences): dedup material.
    if (i > 0 && rng.chance(0.02)) {
      const original = files[rng.int(files.length)]!
      const name = original.path.slice(original.path.lastIndexOf('/') + 1)
      files.push({ ...original, path: `${dir}/${i.toString(36)}-${name}` })
      continue
    }
    const kind = smallKind(rng)
    const ext = rng.pick(EXTENSIONS[kind])
    files.push({
      path: `${dir}/${word(rng)}-${i.toString(36)}.${ext}`,
      kind,
      size: smallSize(rng),
      seed: rng.next(),
    })
  }

  const links: LinkEntry[] = []
  for (let i = 0; i < Math.max(1, Math.round(fileCount / 1000)); i++) {
    const target = files[rng.int(files.length)]!
    const base = target.path.slice(target.path.lastIndexOf('/') + 1)
    links.push({ path: `${target.path}.${i}.link`, target: base })
  }

  const emptyDirs = ['tree/empty', 'tree/empty/nested', `${rng.pick(dirs).path}/.cache-empty`]
  const big = BIG_FILES.map((b) => ({
    path: `big/${b.name}`,
    kind: b.kind,
    size: scaled(b.mib, scale),
    seed: deriveSeed(seed, 'big', b.name),
  }))

  return {
    seed,
    scale,
    dirs: [...dirs.map((d) => d.path), ...emptyDirs, 'big'],
    files: [...files, ...big],
    links,
  }
}

/** About 1% of the small files changed, a few added and removed; a few big files changed. */
export function planModification(plan: CorpusPlan): Modification {
  const rng = new Rng(deriveSeed(plan.seed, 'modification'))
  const small = plan.files.filter((f) => f.path.startsWith('tree/') && f.size > 0)
  const chosen = new Set<number>()
  const pickDistinct = (): FileEntry => {
    let i = rng.int(small.length)
    while (chosen.has(i)) i = rng.int(small.length)
    chosen.add(i)
    return small[i]!
  }

  const changed: Change[] = []
  const changeCount = Math.max(1, Math.round(small.length * 0.01))
  for (let i = 0; i < changeCount; i++) {
    const base = pickDistinct()
    const r = rng.float()
    const op: ChangeOp = r < 0.4 ? 'append' : r < 0.8 ? 'edit' : 'rewrite'
    const amount = op === 'rewrite' ? smallSize(rng) : rng.logRange(16, 2048)
    changed.push({ base, op, seed: rng.next(), amount })
  }
  const fewCount = Math.max(1, Math.round(small.length * 0.002))
  const removed = Array.from({ length: fewCount }, pickDistinct)

  const dirs = plan.dirs.filter((d) => d.startsWith('tree'))
  const added: FileEntry[] = []
  for (let i = 0; i < fewCount; i++) {
    const kind = smallKind(rng)
    const path = `${rng.pick(dirs)}/_new_${word(rng)}-${i.toString(36)}.${rng.pick(EXTENSIONS[kind])}`
    added.push({ path, kind, size: smallSize(rng), seed: rng.next() })
  }
  const newDir = `tree/added-${word(rng)}`
  for (let i = 0; i < Math.max(2, Math.round(20 * plan.scale)); i++) {
    added.push({
      path: `${newDir}/${word(rng)}-${i}.md`,
      kind: 'doc',
      size: smallSize(rng),
      seed: rng.next(),
    })
  }

  const big = (name: string) => plan.files.find((f) => f.path === `big/${name}`)!
  const logs = big('logs.txt')
  changed.push({ base: logs, op: 'append', seed: rng.next(), amount: Math.round(logs.size / 100) })
  changed.push({ base: big('db.bin'), op: 'pages', seed: rng.next(), amount: 16 })
  changed.push({
    base: big('archive.tar'),
    op: 'insert',
    seed: rng.next(),
    amount: 4096 + rng.int(96 * 1024),
  })
  removed.push(big('media-2.mp4'))
  added.push({ path: 'big/media-3.webm', kind: 'binary', size: scaled(32, plan.scale), seed: rng.next() })

  return { changed, added, addedDirs: [newDir], removed }
}

export function content(file: FileEntry): Uint8Array {
  return generate(file.kind, file.seed, file.size)
}

/** The modified bytes of a changed file: its original bytes with the change applied. */
export function modifiedContent(change: Change): Uint8Array {
  const { base, op, amount } = change
  const rng = new Rng(change.seed)
  const before = content(base)
  switch (op) {
    case 'rewrite':
      return generate(base.kind, rng.next(), amount)
    case 'append':
      return concat(before, generate(base.kind, rng.next(), amount))
    case 'insert': {
      const at = rng.int(before.length)
      return concat(before.subarray(0, at), generate(base.kind, rng.next(), amount), before.subarray(at))
    }
    case 'edit': {
      const at = rng.int(before.length)
      const cut = Math.min(before.length - at, amount)
      const replacement = generate(base.kind, rng.next(), rng.range(Math.ceil(cut / 2), cut * 2 + 1))
      return concat(before.subarray(0, at), replacement, before.subarray(at + cut))
    }
    case 'pages': {
      const page = 8192
      const pages = Math.max(1, Math.floor(before.length / page))
      for (let i = 0; i < amount; i++) {
        const p = rng.int(pages)
        rng.fill(before.subarray(p * page, (p + 1) * page))
      }
      return before
    }
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let off = 0
  for (const p of parts) {
    out.set(p, off)
    off += p.length
  }
  return out
}
