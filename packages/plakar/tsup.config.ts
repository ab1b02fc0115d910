import { defineConfig } from 'tsup'
import { packageBuild } from '../../tsup.base'

export default defineConfig({
  ...packageBuild,
  // CommonJS is split into shared chunks too (ESM always is): the entries below then share one
  // copy of each module, so a store registered through @poolp/plakar/storage is one that
  // @poolp/plakar's openStore finds, and a class is the same class from every entry.
  splitting: true,
  // The archive, blob, check and restore workers are their own entries: worker_threads load them by
  // file name from dist/ (see src/platform/worker.ts), beside index.js / index.cjs. The plakar
  // CLI (bin/plakar.ts) sits beside them too, so the workers are found from it.
  entry: {
    index: 'src/index.ts',
    // The subpath exports (package.json "exports"): @poolp/plakar/cli, /storage, ... .
    cli: 'src/commands/index.ts',
    storage: 'src/storage/index.ts',
    repository: 'src/repository/index.ts',
    snapshot: 'src/snapshot/index.ts',
    maintenance: 'src/maintenance/index.ts',
    testing: 'src/testing.ts',
    'archive-worker': 'src/snapshot/archive-worker.ts',
    'blob-worker': 'src/repository/blob-worker.ts',
    'check-worker': 'src/maintenance/check-worker.ts',
    'restore-worker': 'src/snapshot/restore-worker.ts',
    plakar: 'bin/plakar.ts',
  },
})
