#!/usr/bin/env node
// First: sizes libuv's thread pool before anything starts it.
import '../src/commands/threadpool.js'
import { main } from '../src/commands/cli.js'
import { repositories } from '../src/commands/repositories.js'

// A plakar server child, re-executed by privsep: privsep takes its role off the command line
// when it is imported, before the command line below is parsed.
if (process.argv[2]?.startsWith('--privsep-child=')) await import('@poolp/privsep')

// A reader that goes away (plakar cat ... | head) ends the output, not with a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0)
  throw err
})

// Ctrl-C: clear a progress line, say so, exit 130. What a push had written stays
// unreferenced (no snapshot names it) and is reclaimable; nothing visible is half done.
process.on('SIGINT', () => {
  process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[K' : ''}plakar: interrupted\n`)
  process.exit(130)
})

// The event loop emptied before the command finished: a promise nothing will settle. Exiting
// 0 then would report a success that did not happen.
let finished = false
process.on('beforeExit', () => {
  if (finished) return
  process.stderr.write('plakar: internal error: the command stopped before it finished\n')
  process.exit(1)
})

main(
  process.argv.slice(2),
  {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
  },
  repositories,
).then((status) => {
  finished = true
  process.exitCode = status
})
