// A minimal in-process Store (the storage seam's shape), so that this check of the built
// package depends on the repository's dist/ files only.
class MapStore {
  constructor() {
    this.location = 'map://dist-check'
    this.objects = new Map()
  }
  async create() {}
  async open() {}
  async put(kind, name, data) {
    this.objects.set(`${kind}/${name}`, Buffer.from(data))
  }
  async get(kind, name, offset, length) {
    const o = this.objects.get(`${kind}/${name}`)
    if (!o) throw Object.assign(new Error(`${kind}/${name} not found`), { code: 'STORAGE_NOT_FOUND' })
    return offset === undefined ? o : o.subarray(offset, offset + length)
  }
  async stat(kind, name) {
    return this.objects.get(`${kind}/${name}`)?.length
  }
  async *list(kind) {
    for (const [key, o] of this.objects) if (key.startsWith(`${kind}/`)) yield { name: key.slice(kind.length + 1), size: o.length }
  }
  async delete(kind, name) {
    this.objects.delete(`${kind}/${name}`)
  }
  async close() {}
}

/** Stores `file` through the pipeline of `plakar` (the loaded build, and its snapshot entry) and reads it back. */
async function roundTrip(plakar, snapshot, file) {
  const store = new MapStore()
  const repo = await plakar.Repository.create(store, {
    passphrase: Buffer.from('pw'),
    compression: true,
    kdf: { N: 1024 },
    cacheDir: null,
  })
  const writer = repo.writer({ cpus: 2, source: snapshot.FILE_SOURCE })
  const r = await writer.putFile({ path: file })
  await writer.close()
  const parts = []
  for await (const p of repo.readBlobs(r.chunks)) parts.push(p)
  await repo.close()
  const sha256 = require('node:crypto').createHash('sha256').update(Buffer.concat(parts)).digest('hex')
  return { size: r.size, chunks: r.chunks.length, sha256 }
}

module.exports = { roundTrip }
