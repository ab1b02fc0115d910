/**
 * A daemon shaped like OpenSMTPD: a privileged parent and six children with OpenSMTPD's
 * users, chroots and talksTo graph. One mail goes through it at start: the dispatcher
 * resolves the recipient with lookup, has crypto sign the session, hands the envelope to
 * the queue, and the queue has the scheduler schedule it. crypto, jailed in /var/empty as
 * _smtpd, cannot open the private key itself: it asks the parent, which opens the file
 * and passes the descriptor (as httpd's parent opens log files for its logger).
 *
 *   node --import tsx examples/smtpd.ts [--key=PATH] [--bench[=QUERIES]]
 *
 * Needs root, the users _smtpd and _smtpq, and root-owned /var/empty and /var/spool/smtpd.
 * --bench: once ready, the dispatcher times QUERIES lookups; the parent prints one JSON
 * line (ready time and round trips) on stdout and stops the daemon.
 */
import { createHmac, randomBytes } from 'node:crypto'
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import * as privsep from '@poolp/privsep'

// The benchmark's clock: start() is called below, right after the declarations.
const t0 = performance.now()

/** The daemon's messages: one closed table, each type with a name (OpenSMTPD's enum imsg_type). */
const IMSG = {
  GET_KEY: 1,
  KEY: 2,
  SIGN: 3,
  SIGNATURE: 4,
  LOOKUP: 5,
  LOOKUP_RESULT: 6,
  ENQUEUE: 7,
  SCHEDULE: 8,
  BENCH: 9,
  BENCH_RESULT: 10,
} as const

function option(name: string): string | undefined {
  for (const arg of process.argv.slice(2)) {
    if (arg === `--${name}`) return ''
    if (arg.startsWith(`--${name}=`)) return arg.slice(name.length + 3)
  }
  return undefined
}
const keyPath = option('key') || '/run/smtpd-example.key'
const bench = option('bench')
const aliases: Record<string, string> = { postmaster: 'root', abuse: 'root', 'mailer-daemon': 'postmaster' }
const text = (b: Uint8Array) => Buffer.from(b).toString()

// ---- parent: keeps root, opens files for the others ----

/** CPU time (user + system, ms) a process has used so far, from /proc (100 ticks a second). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

async function parentMain() {
  const readyMs = performance.now() - t0
  console.log(`all children ready in ${readyMs.toFixed(1)} ms`)
  if (bench === undefined) return
  const pids = ['parent', 'crypto', 'control', 'lookup', 'dispatcher', 'queue', 'scheduler'].map(
    (name) => privsep.getProcess(name).pid!,
  )
  const readyCpuMs = pids.reduce((sum, pid) => sum + cpuMs(pid), 0)
  const reply = await privsep.getProcess('dispatcher').query(IMSG.BENCH, Buffer.from(bench || '10000'))
  const rtt = JSON.parse(text(reply.payload))
  process.stdout.write(`${JSON.stringify({ readyMs, readyCpuMs, rtt })}\n`)
  privsep.stop('benchmark done')
}

privsep.parent('parent', parentMain).preStartHandler(() => {
  if (!existsSync(keyPath)) {
    writeFileSync(keyPath, randomBytes(32), { mode: 0o600, flag: 'wx' })
    console.log(`generated a key in ${keyPath}`)
  }
  privsep.getProcess('crypto').setHandler(IMSG.GET_KEY, (msg) => {
    // The parent decides what it opens; a child only names what it wants.
    if (text(msg.payload) !== keyPath) throw new Error(`crypto asked for ${text(msg.payload)}`)
    msg.reply(IMSG.KEY, undefined, { fd: openSync(keyPath, 'r') })
  })
})

// ---- crypto: holds the key, signs for the dispatcher ----

let key: Buffer | undefined

privsep
  .child('crypto', () => {})
  .talksTo('parent', 'control', 'dispatcher')
  .preStartHandler(async () => {
    try {
      readFileSync(keyPath)
    } catch (err) {
      console.log(`cannot open ${keyPath} myself: ${(err as NodeJS.ErrnoException).code}`)
    }
    const reply = await privsep.getParent().query(IMSG.GET_KEY, Buffer.from(keyPath))
    if (reply.fd === undefined) throw new Error('the parent sent no key')
    key = readFileSync(reply.fd)
    closeSync(reply.fd)
    console.log(`received ${keyPath} from the parent as fd ${reply.fd}: ${key.length} bytes`)
    privsep.getProcess('dispatcher').setHandler(IMSG.SIGN, (msg) => {
      msg.reply(IMSG.SIGNATURE, createHmac('sha256', key!).update(msg.payload).digest())
    })
  })

// ---- control: the administrative socket's process (idle here) ----

privsep.child('control', () => {}).talksTo('parent', 'crypto', 'lookup', 'dispatcher', 'queue', 'scheduler')

// ---- lookup: tables and aliases; not chrooted, as OpenSMTPD's lka ----

privsep
  .child('lookup', () => {})
  .talksTo('parent', 'control', 'dispatcher', 'queue')
  .preStartHandler(() => {
    const resolve = (msg: privsep.Message) => {
      let rcpt = text(msg.payload)
      for (let hops = 0; aliases[rcpt] !== undefined && hops < 8; hops++) rcpt = aliases[rcpt]!
      msg.reply(IMSG.LOOKUP_RESULT, Buffer.from(rcpt))
    }
    privsep.getProcess('dispatcher').setHandler(IMSG.LOOKUP, resolve)
    privsep.getProcess('queue').setHandler(IMSG.LOOKUP, resolve)
  })

// ---- dispatcher: the SMTP sessions ----

async function dispatcherMain() {
  const rcpt = 'mailer-daemon'
  const resolved = text((await privsep.getProcess('lookup').query(IMSG.LOOKUP, Buffer.from(rcpt))).payload)
  const signature = (await privsep.getProcess('crypto').query(IMSG.SIGN, Buffer.from('session 1'))).payload
  privsep.getProcess('queue').message(IMSG.ENQUEUE, Buffer.from(JSON.stringify({ id: 1, rcpt: resolved })))
  console.log(
    `accepted mail 1 for ${rcpt} (delivers to ${resolved}), session signed ${signature.toString('hex', 0, 8)}`,
  )
}

privsep
  .child('dispatcher', dispatcherMain)
  .talksTo('parent', 'control', 'crypto', 'lookup', 'queue')
  .preStartHandler(() => {
    privsep.getParent().setHandler(IMSG.BENCH, async (msg) => {
      const lookup = privsep.getProcess('lookup')
      const n = Number(text(msg.payload))
      const rtts: number[] = []
      for (let i = 0; i < n; i++) {
        const start = process.hrtime.bigint()
        await lookup.query(IMSG.LOOKUP, Buffer.from('postmaster'))
        rtts.push(Number(process.hrtime.bigint() - start) / 1000)
      }
      rtts.sort((a, b) => a - b)
      const at = (q: number) => rtts[Math.min(rtts.length - 1, Math.floor(q * rtts.length))]
      msg.reply(IMSG.BENCH_RESULT, Buffer.from(JSON.stringify({ n, medianUs: at(0.5), p99Us: at(0.99) })))
    })
  })

// ---- queue: the spool, jailed in it as _smtpq ----

const envelopes = new Map<number, { id: number; rcpt: string; mailname: string }>()
let mailname = 'localhost'

privsep
  .child('queue', () => {})
  .talksTo('parent', 'control', 'lookup', 'dispatcher', 'scheduler')
  .preChrootHandler(() => {
    // /etc is out of reach once jailed in the spool: read what the envelopes need now.
    const file = ['/etc/mailname', '/etc/hostname'].find((path) => existsSync(path))
    mailname = file === undefined ? hostname() : readFileSync(file, 'utf8').trim()
    console.log(`mail name ${mailname} read before chroot`)
  })
  .preStartHandler(() => {
    privsep.getProcess('dispatcher').setHandler(IMSG.ENQUEUE, (msg) => {
      const envelope = { ...(JSON.parse(text(msg.payload)) as { id: number; rcpt: string }), mailname }
      envelopes.set(envelope.id, envelope)
      console.log(`queued envelope ${envelope.id} for ${envelope.rcpt}`)
      privsep.getProcess('scheduler').message(IMSG.SCHEDULE, Buffer.from(String(envelope.id)))
    })
  })

// ---- scheduler: decides when envelopes go out ----

privsep
  .child('scheduler', () => {})
  .talksTo('control', 'queue')
  .preStartHandler(() => {
    privsep.getProcess('queue').setHandler(IMSG.SCHEDULE, (msg) => {
      console.log(`scheduled envelope ${text(msg.payload)}`)
    })
  })

for (const name of ['crypto', 'control', 'lookup', 'dispatcher', 'scheduler']) {
  privsep.getProcess(name).username = '_smtpd'
}
for (const name of ['crypto', 'control', 'dispatcher', 'scheduler']) {
  privsep.getProcess(name).chrootPath = '/var/empty'
}
const queue = privsep.getProcess('queue')
queue.username = '_smtpq'
queue.chrootPath = '/var/spool/smtpd'

await privsep.start({
  program: 'smtpd',
  messageNames: Object.fromEntries(Object.entries(IMSG).map(([name, type]) => [type, `IMSG_${name}`])),
})
