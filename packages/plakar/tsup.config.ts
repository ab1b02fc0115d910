import { defineConfig } from 'tsup'
import { packageBuild } from '../../tsup.base'

export default defineConfig({
  ...packageBuild,
  // The pipeline, blob and restore workers are their own entries: worker_threads load them by
  // file name from dist/ (see src/platform/worker.ts), beside index.js / index.cjs. The plakar
  // CLI (bin/plakar.ts) sits beside them too, so the workers are found from it.
  entry: {
    index: 'src/index.ts',
    // The subpath exports (package.json "exports"): @poolp/plakar/cli, /storage, ... .
    cli: 'src/commands/index.ts',
    storage: 'src/storage/index.ts',
    repository: 'src/repository/index.ts',
    snapshot: 'src/snapshot/index.ts',
    testing: 'src/testing.ts',
    'pipeline-worker': 'src/repository/pipeline-worker.ts',
    'blob-worker': 'src/repository/blob-worker.ts',
    'restore-worker': 'src/snapshot/restore-worker.ts',
    plakar: 'bin/plakar.ts',
  },
})
