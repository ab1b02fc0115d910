/**
 * The parent's branch of start(), after OpenBSD's proc_init/proc_connect: validate, spawn
 * every child with its control channel on fd 3, create one socketpair per declared pair and
 * pass the children their ends, tell each child it has all of them, wait for every READY,
 * then run the parent's entry point. From then on the parent supervises (supervisor.ts).
 */
import { closeSync, readFileSync } from 'node:fs'
import { type Channel, channelFailure, isPeerGone, openChannel, socketpair } from './channel.js'
import { CONTROL_CHANNEL, CONTROL_VERSION, ControlType, controlTypeName, encodeCount } from './control.js'
import { DeclarationError, StartupError } from './errors.js'
import { log, prefixConsole, setLogName } from './log.js'
import type { Privsep, ResolvedStartOptions } from './privsep.js'
import { closeOnExec, reexec } from './reexec.js'
import { Supervisor } from './supervisor.js'
import { lookupUser } from './users.js'
import { defaultValidationEnv, validate } from './validate.js'

/** Sets the parent's title when it fits in the original command line (Node cuts it otherwise). */
function setParentTitle(title: string): void {
  try {
    if (readFileSync('/proc/self/cmdline').length > title.length) process.title = title
  } catch {
    // No /proc: leave the title alone rather than show a truncated one.
  }
}

export async function runParent(
  daemon: Privsep,
  options: ResolvedStartOptions,
  running: () => void,
): Promise<void> {
  const problems = validate(
    daemon.processes.map((p) => ({
      name: p.name,
      isParent: p.isParent,
      main: p.main,
      talksTo: p.peers,
      username: p.username,
      chrootPath: p.chrootPath,
      declarations: daemon.declarations(p.name),
    })),
    defaultValidationEnv(lookupUser),
  )
  if (problems.length > 0) throw new DeclarationError(problems)

  const me = daemon.getParent()
  me.pid = process.pid
  setLogName(me.name)
  setParentTitle(`${options.program}: ${me.name}`)
  if (options.prefixConsole) prefixConsole()

  let failed = false
  const channels: Channel[] = []
  const supervisor = new Supervisor({
    gracePeriod: options.gracePeriod,
    onFinished: (childFailed) => {
      for (const channel of channels) channel.close()
      process.exit(childFailed || failed ? 1 : 0)
    },
  })
  daemon.setStopper((reason) => supervisor.stop(reason, false))
  const fail = (reason: string) => {
    failed = true
    supervisor.stop(reason, true)
  }
  // A child that went away is the supervisor's to report (supervisor.ts); what failed because
  // of it (a query, an entry point awaiting one) is not a failure of its own.
  const unlessPeerGone = (what: string, err: unknown) => {
    if (isPeerGone(err)) return log.debug(`${what}: a child is gone (${(err as Error).message})`)
    log.error(err)
    fail(what)
  }
  const channelFailed = (what: string) => (err: unknown) => {
    if (isPeerGone(err)) return log.debug(`${what}: a child is gone`)
    const why = channelFailure(err)
    if (!why.includes('\n')) return fail(`${what} failed: ${why}`)
    log.error(`${what} failed: ${why}`)
    fail(`${what} failed`)
  }
  // Node would print these unprefixed and exit, leaving the children to notice on their own.
  process.on('uncaughtException', (err) => unlessPeerGone('uncaught exception', err))
  process.on('unhandledRejection', (err) => unlessPeerGone('unhandled promise rejection', err))
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    // A repeated signal changes nothing: the grace period already bounds the wait, and a
    // terminal or `timeout` often delivers one signal twice (to the process and its group).
    process.on(signal, () => supervisor.stop(`received ${signal}`, false))
  }

  const children = daemon.processes.filter((p) => !p.isParent)
  const controls = new Map<string, Channel>()
  let ready = 0
  let allReady: () => void = () => {}
  const readyPromise = new Promise<void>((resolve) => {
    allReady = resolve
  })

  closeOnExec()
  for (const proc of children) {
    const [mine, theirs] = socketpair()
    const child = reexec(proc.name, `${options.program}: ${proc.name}`, theirs)
    closeFd(theirs)
    proc.pid = child.pid
    supervisor.add(proc.name, child)
    const control = openChannel(mine, CONTROL_CHANNEL)
    channels.push(control)
    controls.set(proc.name, control)
    let isReady = false
    control.handle(ControlType.READY, (msg) => {
      if (msg.peerid !== CONTROL_VERSION || isReady) {
        fail(`child "${proc.name}" broke the control protocol (${controlTypeName[msg.type]})`)
        return
      }
      isReady = true
      log.debug(`child "${proc.name}" (pid ${child.pid}) is ready`)
      if (++ready === children.length) allReady()
    })
    control.dispatch().then(() => {}, channelFailed(`control channel of child "${proc.name}"`))
  }
  if (children.length === 0) allReady()

  const counts = new Map<string, number>()
  const hand = (to: string, peer: string, fd: number) => {
    controls.get(to)!.message(ControlType.CHANNEL, Buffer.from(peer), { fd, peerid: CONTROL_VERSION })
    counts.set(to, (counts.get(to) ?? 0) + 1)
  }
  for (const [a, b] of daemon.pairs()) {
    const [fa, fb] = socketpair()
    if (a === me.name || b === me.name) {
      const child = a === me.name ? b : a
      const channel = openChannel(a === me.name ? fa : fb, options.peerChannel)
      channels.push(channel)
      daemon.attachChannel(child, channel)
      hand(child, me.name, a === me.name ? fb : fa)
    } else {
      hand(a, b, fa)
      hand(b, a, fb)
    }
  }
  for (const proc of children) {
    controls.get(proc.name)!.message(ControlType.GO, encodeCount(counts.get(proc.name) ?? 0), {
      peerid: CONTROL_VERSION,
    })
  }

  const readyTimer = setTimeout(
    () => fail(`children not ready after ${options.readyTimeout} ms`),
    options.readyTimeout,
  )
  running()
  try {
    await me.preStart?.()
  } catch (err) {
    unlessPeerGone('preStart handler failed', err)
  }
  for (const [peer, channel] of daemon.channels) {
    channel
      .dispatch()
      .then(() => log.debug(`channel to "${peer}" closed`), channelFailed(`channel to "${peer}"`))
  }
  await readyPromise
  clearTimeout(readyTimer)
  if (supervisor.stopping) return new Promise(() => {})
  try {
    await me.main()
  } catch (err) {
    unlessPeerGone('entry point failed', err)
    return new Promise(() => {})
  }
}

function closeFd(fd: number): void {
  try {
    closeSync(fd)
  } catch (err) {
    throw new StartupError(`closing the child's end of its control channel: ${(err as Error).message}`)
  }
}
