/**
 * A child's branch of start(), in OpenBSD's order: take the control channel on fd 3, run
 * preChroot, chroot, drop to the user, prove root is gone, collect the channels the parent
 * hands over, run preStart, dispatch, tell the parent READY, run the entry point.
 *
 * What a child needs once jailed is loaded before chroot: the user database entry, the
 * time zone (V8 reads it lazily and silently falls back to UTC inside a jail without
 * /usr/share/zoneinfo), and every module (imports are static; the application must not
 * import lazily after start()).
 */
import { type Channel, chroot, openChannel, setCloexec } from './channel.js'
import { CONTROL_CHANNEL, CONTROL_VERSION, ControlType, controlTypeName, decodeCount } from './control.js'
import { BadRoleError, StartupError } from './errors.js'
import { log, prefixConsole, setLogName } from './log.js'
import { dropPrivileges } from './privdrop.js'
import type { Privsep, ResolvedStartOptions } from './privsep.js'
import { lookupUser } from './users.js'

/** The control channel a child inherits from the parent. */
export const CONTROL_FD = 3

function loadTimeZone(): void {
  new Date().toString()
  Intl.DateTimeFormat().resolvedOptions()
}

export async function runChild(
  daemon: Privsep,
  role: string,
  options: ResolvedStartOptions,
  running: () => void,
): Promise<void> {
  const me = daemon.processes.find((p) => p.name === role && !p.isParent)
  if (me === undefined) throw new BadRoleError(role)
  me.pid = process.pid
  daemon.getParent().pid = process.ppid
  setLogName(me.name)
  process.title = `${options.program}: ${me.name}`
  if (options.prefixConsole) prefixConsole()
  // The parent decides when the daemon stops: a terminal's ^C or hangup reaches the whole
  // process group, and children that died of it first would look like a failure.
  process.on('SIGINT', () => {})
  process.on('SIGHUP', () => {})
  process.on('SIGTERM', () => process.exit(0))

  setCloexec(CONTROL_FD, true)
  const control = openChannel(CONTROL_FD, CONTROL_CHANNEL)
  const expected = new Set(daemon.peersOf(me.name))
  let go: () => void = () => {}
  let broken: (err: Error) => void = () => {}
  const channelsComplete = new Promise<void>((resolve, reject) => {
    go = resolve
    broken = reject
  })
  const protocolError = (what: string) => broken(new StartupError(`control protocol: ${what}`))
  control.handle(ControlType.CHANNEL, (msg) => {
    const peer = Buffer.from(msg.payload).toString()
    if (msg.peerid !== CONTROL_VERSION)
      return protocolError(`version ${msg.peerid}, expected ${CONTROL_VERSION}`)
    if (msg.fd === undefined) return protocolError(`PRIVSEP_CHANNEL for "${peer}" without an fd`)
    if (!expected.delete(peer)) return protocolError(`unexpected channel to "${peer}"`)
    daemon.attachChannel(peer, openChannel(msg.fd))
  })
  control.handle(ControlType.GO, (msg) => {
    const count = decodeCount(msg.payload)
    if (expected.size !== 0 || count !== daemon.channels.size) {
      return protocolError(`${controlTypeName[msg.type]} after ${daemon.channels.size} of ${count} channels`)
    }
    go()
  })
  control.dispatch().then(
    () => {
      log.error('parent is gone: exiting')
      process.exit(1)
    },
    (err: Error) => {
      log.error(`control channel failed: ${err.message}`)
      process.exit(1)
    },
  )

  const user = me.username === undefined ? undefined : lookupUser(me.username)
  if (me.username !== undefined && user === undefined) {
    throw new StartupError(`user "${me.username}" does not exist`)
  }
  loadTimeZone()
  await me.preChroot?.()
  dropPrivileges({ chrootPath: me.chrootPath, user, chroot })
  await channelsComplete
  running()
  await me.preStart?.()
  for (const [peer, channel] of daemon.channels) dispatchPeer(peer, channel)
  control.message(ControlType.READY, undefined, { peerid: CONTROL_VERSION })
  await me.main()
}

function dispatchPeer(peer: string, channel: Channel): void {
  channel.dispatch().then(
    () => log.debug(`channel to "${peer}" closed`),
    (err: Error) => {
      log.error(`channel to "${peer}" failed: ${err.message}`)
      process.exit(1)
    },
  )
}
