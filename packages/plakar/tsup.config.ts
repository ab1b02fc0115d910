import { defineConfig } from 'tsup'
import { packageBuild } from '../../tsup.base'

export default defineConfig({
  ...packageBuild,
  // The pipeline worker is its own entry: worker_threads load it by file name from dist/
  // (see src/repository/worker-entry.ts), beside index.js / index.cjs.
  // The plakar CLI (bin/plakar.ts) sits beside them too, so the worker is found from it.
  entry: {
    index: 'src/index.ts',
    'pipeline-worker': 'src/repository/pipeline-worker.ts',
    plakar: 'bin/plakar.ts',
  },
})
