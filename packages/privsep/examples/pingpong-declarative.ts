/**
 * The ping/pong daemon again, declared as one object with defineDaemon.
 *
 *   node --import tsx examples/pingpong-declarative.ts [--interval=ms]
 */
import { defineDaemon, type Message } from '@poolp/privsep'

const PING = 0
const PONG = 1
const interval = Number(/^--interval=(\d+)$/.exec(process.argv[2] ?? '')?.[1] ?? 1000)

const bounce = (reply: number) => (msg: Message) => {
  console.log(`received ${msg.type === PING ? 'PING' : 'PONG'} from ${msg.from}`)
  setTimeout(() => msg.reply(reply), interval)
}

const daemon = defineDaemon({
  parent: { name: 'parent', main: () => {} },
  children: {
    foobar: {
      main: () => {},
      talksTo: ['barbaz'],
      handlers: { barbaz: { [PING]: bounce(PONG) } },
    },
    barbaz: {
      main: () => daemon.getProcess('foobar').message(PING),
      talksTo: ['foobar'],
      handlers: { foobar: { [PONG]: bounce(PING) } },
    },
  },
})

await daemon.start({ program: 'pingpong' })
