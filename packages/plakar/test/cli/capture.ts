import { PassThrough, Writable } from 'node:stream'
import type { Io } from '@poolp/plakar/cli'

/** Streams for main(): stdout and stderr collected as bytes, stdin empty and not a terminal. */
export function captureIo(env: Record<string, string | undefined>, cwd: string) {
  const out: Buffer[] = []
  const err: Buffer[] = []
  const sink = (into: Buffer[]) =>
    new Writable({
      write(chunk, _enc, cb) {
        into.push(Buffer.from(chunk))
        cb()
      },
    })
  const io: Io = { stdout: sink(out), stderr: sink(err), stdin: new PassThrough(), env, cwd }
  return {
    io,
    stdout: () => Buffer.concat(out),
    stderr: () => Buffer.concat(err).toString(),
    reset: () => {
      out.length = 0
      err.length = 0
    },
  }
}
