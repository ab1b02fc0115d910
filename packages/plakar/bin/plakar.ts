#!/usr/bin/env node
// First: sizes libuv's thread pool before anything starts it.
import '../src/commands/threadpool.js'
import { main } from '../src/commands/cli.js'
import { repositories } from '../src/commands/repositories.js'

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
  process.exitCode = status
})
