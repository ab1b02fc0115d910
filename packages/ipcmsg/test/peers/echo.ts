// A child process that serves the test protocol on fd 3 (see test/helpers.ts).
import { closeSync, fstatSync, readSync } from 'node:fs'
import { Socket } from 'node:net'
import { Channel, type DialectName } from '@poolp/ipcmsg'
import { T } from '../helpers.js'

const dialect = (process.env.IPCMSG_DIALECT ?? 'classic') as DialectName
const maxMessageSize = Number(process.env.IPCMSG_MAX ?? 16384)
const ch = Channel.fromFd(3, { dialect, maxMessageSize, maxPendingHandlers: 16 })
let slowSeen = 0

ch.handle(T.PING, (msg) => {
  ch.reply(msg, T.PONG, msg.payload)
})
ch.handle(T.READ_FD, (msg) => {
  // Reply with the passed file's size and its first bytes.
  const fd = msg.fd!
  const buf = Buffer.alloc(64)
  const n = readSync(fd, buf, 0, 64, 0)
  const size = fstatSync(fd).size
  closeSync(fd)
  ch.reply(msg, T.FD_CONTENT, Buffer.concat([Buffer.from(`${size}:`), buf.subarray(0, n)]))
})
ch.handle(T.USE_SOCKET, (msg) => {
  // Talk over the passed socket with Node's own net.Socket.
  const sock = new Socket({ fd: msg.fd!, readable: true, writable: true })
  sock.once('data', (d) => {
    sock.end(`child heard ${d.toString()}`)
  })
})
ch.handle(T.SEND_BACK_FD, (msg) => {
  // Hands the received fd straight back: the channel owns it from here on.
  ch.reply(msg, T.FD_BACK, msg.payload, { fd: msg.fd! })
})
ch.handle(T.SIZE, (msg) => {
  ch.reply(msg, T.SIZE, Buffer.from(String(msg.payload.length)))
})
ch.handle(T.BLAST, (msg) => {
  // Sends count messages of size bytes each, then DONE.
  const count = msg.payload.readUInt32LE(0)
  const size = msg.payload.readUInt32LE(4)
  const body = Buffer.alloc(size, 0x61)
  let i = 0
  const pump = () => {
    while (i < count) {
      i++
      if (!ch.message(T.DATA, body)) return void ch.drain().then(pump)
    }
    ch.message(T.DONE)
  }
  pump()
})
ch.handle(T.SLOW, async (msg) => {
  // A slow consumer: each message takes a while, so the sender backs up.
  await new Promise((resolve) => setTimeout(resolve, 1))
  slowSeen++
  if (msg.payload.length > 0 && msg.payload[0] === 1) ch.message(T.DONE, Buffer.from(String(slowSeen)))
})
ch.handle(T.EXIT, () => {
  process.exit(0)
})
await ch.dispatch()
