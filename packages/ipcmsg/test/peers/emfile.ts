// Runs out of descriptors on purpose, then frees some: the fds passed while
// it had none free must all arrive, none silently lost.
import { closeSync, fstatSync, openSync } from 'node:fs'
import { Channel } from '@poolp/ipcmsg'
import { T } from '../helpers.js'

const ch = Channel.fromFd(3)
const filler: number[] = []
for (;;) {
  try {
    filler.push(openSync('/dev/null', 'r'))
  } catch {
    break
  }
}
const received: number[] = []
ch.handle(T.READ_FD, (msg) => {
  received.push(msg.fd!)
})
ch.handle(T.PING, (msg) => {
  const valid = received.filter((fd) => fstatSync(fd).isFile()).length
  for (const fd of received) closeSync(fd)
  ch.reply(msg, T.PONG, Buffer.from(`${received.length}/${valid}`))
})
ch.handle(T.EXIT, () => process.exit(0))
// Tell the parent we are full; free descriptors only when it says so (after
// it has sent its fds), so every one of them reaches a full table first.
process.on('SIGUSR2', () => {
  for (const fd of filler.splice(0, 20)) closeSync(fd)
})
ch.message(T.DONE, Buffer.from(String(filler.length)))
await ch.dispatch()
