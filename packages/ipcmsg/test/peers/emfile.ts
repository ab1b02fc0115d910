// Runs out of descriptors on purpose, then frees some: the fds passed while
// it had none free must all arrive, none silently lost. EMFILE_FREE=top frees
// the highest-numbered descriptors instead of the lowest (the receiver then
// counts free slots instead of probing each one), and each received fd is
// checked and closed at once, so the table stays nearly full throughout.
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
const top = process.env.EMFILE_FREE === 'top'
const received: number[] = []
let count = 0
let valid = 0
ch.handle(T.READ_FD, (msg) => {
  count++
  if (!top) return void received.push(msg.fd!)
  if (fstatSync(msg.fd!).isFile()) valid++
  closeSync(msg.fd!)
})
ch.handle(T.PING, (msg) => {
  valid += received.filter((fd) => fstatSync(fd).isFile()).length
  for (const fd of received) closeSync(fd)
  ch.reply(msg, T.PONG, Buffer.from(`${count}/${valid}`))
})
ch.handle(T.EXIT, () => process.exit(0))
// Tell the parent we are full; free descriptors only when it says so (after
// it has sent its fds), so every one of them reaches a full table first.
process.on('SIGUSR2', () => {
  for (const fd of top ? filler.splice(-20) : filler.splice(0, 20)) closeSync(fd)
})
ch.message(T.DONE, Buffer.from(String(filler.length)))
await ch.dispatch()
