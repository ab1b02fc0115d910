// A parent and a re-executed child talking imsg over a socketpair, with an
// open file passed from the parent and read by the child.
//   node --import tsx examples/pingpong.ts
import { spawn } from 'node:child_process'
import { openSync, readFileSync } from 'node:fs'
import { Channel, closeFd, PayloadReader, PayloadWriter, socketpair } from '@poolp/ipcmsg'

const PING = 1
const PONG = 2
const READ = 3
const CONTENT = 4

if (process.argv[2] === 'child') {
  // fd 3 is our end of the socketpair, put there by the parent's spawn().
  const parent = Channel.fromFd(3)
  parent.handle(PING, (msg, ch) => {
    const r = new PayloadReader(msg.payload)
    const n = r.u32()
    const text = r.string()
    r.end()
    ch.reply(
      msg,
      PONG,
      new PayloadWriter()
        .u32(n + 1)
        .string(text.toUpperCase())
        .finish(),
    )
  })
  parent.handle(READ, (msg, ch) => {
    // The received fd is ours: read it, close it.
    const text = readFileSync(msg.fd!, 'utf8')
    msg.closeFd()
    ch.reply(msg, CONTENT, Buffer.from(text.split('\n')[0]!))
  })
  await parent.dispatch() // resolves when the parent closes its end
} else {
  const [mine, theirs] = socketpair()
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, 'child'], {
    stdio: ['inherit', 'inherit', 'inherit', theirs],
  })
  closeFd(theirs)
  const ch = Channel.fromFd(mine)

  const pong = await ch.query(PING, new PayloadWriter().u32(41).string('hello').finish(), { timeout: 5000 })
  const r = new PayloadReader(pong.payload)
  console.log(`pong: ${r.u32()} ${r.string()}`)

  // Sending an fd hands it over: the channel closes our copy once sent.
  const line = await ch.query(READ, undefined, { fd: openSync('/etc/passwd', 'r') })
  console.log(`child read: ${line.payload.toString().split(':')[0]}`)

  ch.close()
  await new Promise((resolve) => child.on('exit', resolve))
}
