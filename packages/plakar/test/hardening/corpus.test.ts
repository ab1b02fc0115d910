/**
 * The benchmark corpus is what every figure in the comparison is measured on, and the
 * hardening tests build their trees from it: it must be a pure function of (seed, scale)
 * and its two variants must switch back and forth exactly.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, describe, expect, it } from 'vitest'
import { digestTree, ensureCorpus } from '../../bench/corpus.js'

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'plakar-corpus-test-'))
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }))

describe('bench corpus', () => {
  it('gives the same bytes for the same seed, other bytes for another seed', () => {
    const a = ensureCorpus(path.join(scratch, 'a'), 7, 0.004)
    const b = ensureCorpus(path.join(scratch, 'b'), 7, 0.004)
    const c = ensureCorpus(path.join(scratch, 'c'), 8, 0.004)
    const tree = (root: string) => digestTree(path.join(root, 'tree'))
    expect(tree(a.root)).toEqual(tree(b.root))
    expect(tree(c.root).digest).not.toBe(tree(a.root).digest)
    expect(tree(a.root).files).toBe(200)
    expect(digestTree(path.join(a.root, 'big')).digest).toBe(digestTree(path.join(b.root, 'big')).digest)
  })

  it('switches to the modified variant and back exactly', () => {
    const corpus = ensureCorpus(path.join(scratch, 'v'), 3, 0.004)
    const original = digestTree(corpus.root)
    corpus.setVariant('modified')
    const modified = digestTree(corpus.root)
    expect(modified.digest).not.toBe(original.digest)
    const { changed, added, removed } = corpus.modification
    expect(changed.length).toBeGreaterThan(0)
    expect(modified.files).toBe(original.files + added.length - removed.length)
    corpus.setVariant('original')
    expect(digestTree(corpus.root)).toEqual(original)
    corpus.setVariant('modified')
    expect(digestTree(corpus.root)).toEqual(modified)
  })

  it('compresses like text, not like random bytes', () => {
    const corpus = ensureCorpus(path.join(scratch, 'z'), 5, 0.004)
    const text = corpus.plan.files.filter((f) => f.kind === 'code' && f.size > 8192).slice(0, 5)
    for (const file of text) {
      const bytes = fs.readFileSync(path.join(corpus.root, file.path))
      expect(gzipSync(bytes, { level: 1 }).length / bytes.length).toBeLessThan(0.6)
    }
  })
})
