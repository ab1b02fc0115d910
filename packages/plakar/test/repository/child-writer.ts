/**
 * A writer in its own process, for the concurrent-writers test:
 *   node --import tsx child-writer.ts <location> <tree dir> <snapshot uuid> <cache dir>
 * Stores every file of the tree through the worker pipeline, a tree blob naming them, and a
 * snapshot object naming the tree blob. Prints one JSON line: { files, stored }.
 */
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { Repository } from '../../src/repository/index.js'
import { FILE_SOURCE } from '../../src/snapshot/index.js'
import { openStore } from '../../src/storage/index.js'
import { PASS } from './helpers.js'

const [location, tree, uuid, cacheDir] = process.argv.slice(2) as [string, string, string, string]
const store = openStore(location)
const repo = await Repository.open(store, { passphrase: async () => PASS, cacheDir })
const writer = repo.writer({ cpus: 1, source: FILE_SOURCE })
const names = readdirSync(tree).sort()
const results = await Promise.all(
  names.map((name) => writer.putFile({ path: join(tree, name), size: statSync(join(tree, name)).size })),
)
const listing = names.map((name, i) => ({
  name,
  chunks: results[i]!.chunks.map((c) => Buffer.from(c).toString('hex')),
}))
const treeBlob = await writer.putBlob('tree', Buffer.from(JSON.stringify(listing)))
await writer.close()
await repo.putSnapshot(uuid, Buffer.from(Buffer.from(treeBlob.id).toString('hex')))
await repo.close()
await store.close()
process.stdout.write(
  `${JSON.stringify({ files: names.length, stored: results.reduce((a, r) => a + r.stored, 0) })}\n`,
)
