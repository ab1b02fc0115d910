/**
 * The receiving side of each benchmark: counts what arrives and, when it has
 * it all, answers with the CPU time (µs) it spent since the first message.
 * argv: transport, then messages expected and message size.
 */
import { Socket } from 'node:net'
import { Channel, type DialectName } from '@poolp/ipcmsg'

const [transport = '', countArg = '0', sizeArg = '0'] = process.argv.slice(2)
const count = Number(countArg)
const size = Number(sizeArg)
const DATA = 1
const DONE = 2

let cpuStart: NodeJS.CpuUsage | undefined
const startClock = () => {
  cpuStart ??= process.cpuUsage()
}
const cpuSpent = () => {
  const c = process.cpuUsage(cpuStart)
  return String(c.user + c.system)
}

if (transport === 'ipcmsg' || transport === 'ipcmsg-fd') {
  const dialect = (process.env.BENCH_DIALECT ?? 'classic') as DialectName
  const ch = Channel.fromFd(3, { dialect, maxMessageSize: Number(process.env.BENCH_MAX ?? 16384) })
  let n = 0
  ch.handle(DATA, (msg) => {
    if (n === 0) startClock()
    if (msg.fd !== undefined) msg.closeFd()
    if (++n === count) ch.message(DONE, Buffer.from(cpuSpent()))
  })
  await ch.dispatch()
} else if (transport === 'ipc-json' || transport === 'ipc-advanced') {
  let n = 0
  process.on('message', () => {
    if (n === 0) startClock()
    if (++n === count) process.send!(cpuSpent())
  })
} else if (transport === 'net') {
  // Raw bytes: no framing, the byte count says when everything arrived.
  const sock = new Socket({ fd: 3, readable: true, writable: true })
  const total = count * size
  let got = 0
  sock.on('data', (d) => {
    startClock()
    got += d.length
    if (got === total) sock.end(cpuSpent())
  })
} else {
  console.error(`bench peer: unknown transport ${transport}`)
  process.exit(2)
}
