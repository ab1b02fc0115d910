/**
 * The two races of prune against a push, each forced in order (no timing luck), on real
 * stores (fs and sqlite), through the library as two processes would use it (each its own
 * Repository and local cache):
 * - a push that deduplicated against blobs before the prune doomed them, and commits after
 *   the prune marked: the prune waits for it and spares what it uses;
 * - a push that starts once the doom list is written, and commits after the prune is done:
 *   it deduplicated against nothing doomed, so it stored what it needs anew.
 * In both, the snapshot then restores byte for byte and check finds no damage.
 */
import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { archive, locate, openStore, Repository, Restorer, TreeReader } from '@poolp/plakar'
import { check, prune } from '@poolp/plakar/maintenance'
import { listHeaders } from '@poolp/plakar/snapshot'
import { afterAll, describe, expect, it } from 'vitest'

const work = fs.mkdtempSync(join(tmpdir(), 'plakar-prune-races-'))
afterAll(() => fs.rmSync(work, { recursive: true, force: true }))
const PASS = Buffer.from('prune races')

function tree(name: string, files: number): string {
  const dir = join(work, name)
  fs.mkdirSync(dir, { recursive: true })
  for (let i = 0; i < files; i++) fs.writeFileSync(join(dir, `f${i}`), randomBytes(96 << 10))
  return dir
}

const BACKENDS = [
  { name: 'fs', location: (d: string) => `fs://${d}/repo` },
  { name: 'sqlite', location: (d: string) => `sqlite://${d}/repo.db` },
]

/** A repository as one process on one machine has it: its own store handle and cache. */
async function open(location: string, machine: string): Promise<Repository> {
  return Repository.open(openStore(location), {
    passphrase: async () => PASS,
    cacheDir: join(work, `cache-${machine}`),
    ownsStore: true,
  })
}

/** `repo`, but putSnapshot waits for `gate` (and says it got there): a push held at its commit. */
function heldAtCommit(repo: Repository) {
  let reached!: () => void
  let open!: () => void
  const atCommit = new Promise<void>((r) => {
    reached = r
  })
  const gate = new Promise<void>((r) => {
    open = r
  })
  const held = Object.assign(Object.create(repo) as Repository, {
    putSnapshot: async (uuid: string, data: Uint8Array) => {
      reached()
      await gate
      return repo.putSnapshot(uuid, data)
    },
  })
  return { held, atCommit, release: () => open() }
}

async function doomListed(location: string): Promise<boolean> {
  const store = openStore(location)
  try {
    for await (const o of store.list('lock')) if (o.name.startsWith('doom-')) return true
    return false
  } finally {
    await store.close()
  }
}

/** A prune (everything unused repacked), and the moment it first waits for a writer. */
function pruneReportingWait(pruner: Repository) {
  let waiting!: () => void
  const waits = new Promise<void>((r) => {
    waiting = r
  })
  const pruning = prune(pruner, {
    maxUnused: 0,
    pollMs: 10,
    progress: (e) => {
      if (e.phase === 'wait') waiting()
    },
  })
  return { pruning, waits }
}

async function restoresAs(repo: Repository, uuid: string, source: string, into: string): Promise<void> {
  const header = (await listHeaders(repo)).find((h) => h.uuid === uuid)!
  const reader = new TreeReader(repo)
  const at = await locate(reader, header, source)
  const restorer = new Restorer(repo, reader, into)
  await restorer.restore([], at.entry)
  await restorer.finish()
  for (const f of fs.readdirSync(source)) {
    const got = fs.readFileSync(join(into, basename(source), f))
    expect(got.equals(fs.readFileSync(join(source, f))), `${uuid}:${source}/${f}`).toBe(true)
  }
}

async function clean(repo: Repository): Promise<void> {
  const headers = await listHeaders(repo)
  const report = await check(repo, {
    targets: headers.map((header) => ({ header, path: '/' })),
    whole: true,
    fast: false,
    workers: 1,
  })
  expect(report.problems).toBe(0)
}

describe.each(BACKENDS)('prune beside a push, each race forced ($name)', (backend) => {
  const dir = join(work, backend.name)
  fs.mkdirSync(dir, { recursive: true })
  const location = backend.location(dir)
  const a = tree(`${backend.name}-a`, 24)
  const b = tree(`${backend.name}-b`, 24)

  it('spares what a push that deduplicated before the doom list uses', { timeout: 120_000 }, async () => {
    const setup = await Repository.create(openStore(location), {
      passphrase: PASS,
      compression: true,
      cacheDir: join(work, 'cache-setup'),
      ownsStore: true,
    })
    const first = await archive(setup, { paths: [a] })
    await archive(setup, { paths: [b] })
    await setup.deleteSnapshot(first.uuid) // a's blobs are now unused: prune dooms them
    await setup.close()

    const pusher = await open(location, 'pusher')
    const pruner = await open(location, 'pruner')
    const { held, atCommit, release } = heldAtCommit(pusher)
    // The push deduplicates against a's blobs (all of them: the same tree) and stops at its commit.
    const pushing = archive(held, { paths: [a] })
    await atCommit
    // Released only once the prune waits for it: released as soon as the doom list shows,
    // the push could commit and unlock before the prune lists the writers (then it waits for
    // none, and only the spare step saves the push; a busy machine made that happen).
    const { pruning, waits } = pruneReportingWait(pruner)
    await waits
    expect(await doomListed(location)).toBe(true)
    release()
    const header = await pushing
    expect(header.stored, 'the push stored nothing: it deduplicated').toBeLessThan(200 << 10)
    const report = await pruning
    expect(report.waited).toBe(1)
    expect(report.spared).toBeGreaterThan(0)
    await restoresAs(pruner, header.uuid, a, join(dir, 'out-1'))
    await clean(pruner)
    await pusher.close()
    await pruner.close()
  })

  it('lets a push that starts after the doom list deduplicate against nothing doomed', {
    timeout: 120_000,
  }, async () => {
    const setup = await open(location, 'setup')
    for (const h of await listHeaders(setup)) if (h.paths[0] === a) await setup.deleteSnapshot(h.uuid)
    // A writer from before the prune holds it between its doom list and its deletes.
    const early = await setup.lockForWrite()
    const pusher = await open(location, 'pusher')
    const pruner = await open(location, 'pruner')
    const { pruning, waits } = pruneReportingWait(pruner)
    await waits
    expect(await doomListed(location)).toBe(true)
    // The push starts now, with a's blobs still in the repository but doomed.
    const { held, atCommit, release } = heldAtCommit(pusher)
    const pushing = archive(held, { paths: [a] })
    await atCommit
    await early.release()
    const report = await pruning
    expect(report.deleted.packs + report.repacked.packs).toBeGreaterThan(0)
    expect(report.spared).toBe(0)
    release()
    const header = await pushing
    expect(header.stored, 'the push stored a anew').toBeGreaterThan(24 * (96 << 10))
    await restoresAs(pruner, header.uuid, a, join(dir, 'out-2'))
    await clean(pruner)
    await Promise.all([setup.close(), pusher.close(), pruner.close()])
  })
})

describe('doom lists in the local cache', () => {
  it('keep doomed blobs out of deduplication across a cache reset, and lookups still find them', async () => {
    const dir = join(work, 'doom-cache')
    fs.mkdirSync(dir, { recursive: true })
    const location = `fs://${dir}/repo`
    const r = await Repository.create(openStore(location), {
      passphrase: PASS,
      compression: true,
      cacheDir: join(work, 'cache-doom'),
      ownsStore: true,
    })
    try {
      const w = r.writer()
      const put = await w.putBlob('data', randomBytes(4096))
      await w.close()
      const m = r.maintenance()
      const [pack] = await (async () => {
        const out: string[] = []
        for await (const p of m.listPacks()) out.push(p.name)
        return out
      })()
      const doom = await m.writeDoom([pack!])
      await r.sync()
      expect(r.hasBlobSync(put.id)).toBe(false)
      // Another process on this host resets the shared cache (an index object it saw is gone):
      // the rows read back from the index must not be deduplicated against.
      r.cache.reset()
      await r.sync()
      expect(r.hasBlobSync(put.id)).toBe(false)
      expect((await r.locate(put.id)).pack).toBe(pack)
      expect((await r.loadBlobs([put.id]))[0]).toBeInstanceOf(Uint8Array)
      // The doom list withdrawn (a prune that spared the pack, then ended): deduplication again.
      await m.deleteLock(doom)
      await r.sync()
      expect(r.hasBlobSync(put.id)).toBe(true)
    } finally {
      await r.close()
    }
  })
})
