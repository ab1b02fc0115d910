/**
 * A pipeline worker of the archiver's writers (worker_threads entry; tsup emits it as
 * dist/archive-worker.{js,cjs}): the repository's sealer (repository/pipeline-worker.ts) with
 * the archiver's file reader (file-source.ts), so that files are opened, checked and read on
 * this thread, and their bytes cut, named, compressed and encrypted here by the repository.
 */
import { servePipeline } from '../repository/pipeline-worker.js'
import { FileReader } from './file-source.js'

servePipeline(() => new FileReader())
