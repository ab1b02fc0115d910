/**
 * The seed's ping/pong daemon: a parent and two children that only talk to each other.
 * barbaz sends PING to foobar; each answers the other, forever, one second apart.
 *
 *   node --import tsx examples/pingpong.ts [--interval=ms]
 */
import * as privsep from '@poolp/privsep'

const IPCMSG_PING = 0
const IPCMSG_PONG = 1

const interval = Number(/^--interval=(\d+)$/.exec(process.argv[2] ?? '')?.[1] ?? 1000)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function parentMain() {}

async function foobarMain() {}

async function barbazMain() {
  const foobar = privsep.getProcess('foobar')
  foobar.message(IPCMSG_PING, Buffer.from('test'))
}

async function pingHandler(msg: privsep.Message) {
  console.log(`[${privsep.getCurrentProcess().name}] received PING`)
  await sleep(interval)
  msg.reply(IPCMSG_PONG, Buffer.from('test'))
}

async function pongHandler(msg: privsep.Message) {
  console.log(`[${privsep.getCurrentProcess().name}] received PONG`)
  await sleep(interval)
  msg.reply(IPCMSG_PING, Buffer.from('test'))
}

privsep.parent('parent', parentMain)
privsep.child('foobar', foobarMain).talksTo('barbaz')
privsep.child('barbaz', barbazMain).talksTo('foobar')

privsep.getProcess('foobar').preStartHandler(async () => {
  const barbaz = privsep.getProcess('barbaz')
  barbaz.setHandler(IPCMSG_PING, pingHandler)
})

privsep.getProcess('barbaz').preStartHandler(async () => {
  const foobar = privsep.getProcess('foobar')
  foobar.setHandler(IPCMSG_PONG, pongHandler)
})

await privsep.start()
