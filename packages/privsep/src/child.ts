/**
 * A child's branch of start(), in OpenBSD's order: take the control channel on fd 3, run
 * preChroot, chroot, drop to the user, prove root is gone, ask to be killed with the parent,
 * collect the channels the parent hands over, run preStart, dispatch, tell the parent READY,
 * run the entry point.
 *
 * What a child needs once jailed is loaded before chroot: the user database entry, the
 * time zone (V8 reads it lazily and silently falls back to UTC inside a jail without
 * /usr/share/zoneinfo), and every module (imports are static; the application must not
 * import lazily after start()).
 */
import { readlinkSync } from 'node:fs'
import {
  type Channel,
  channelFailure,
  chroot,
  getppid,
  isPeerGone,
  openChannel,
  setCloexec,
  setParentDeathSignal,
} from './channel.js'
import { CONTROL_CHANNEL, CONTROL_VERSION, ControlType, controlTypeName, decodeCount } from './control.js'
import { BadRoleError, StartupError } from './errors.js'
import { log, prefixConsole, setLogName } from './log.js'
import { dropPrivileges } from './privdrop.js'
import type { Privsep, ResolvedStartOptions } from './privsep.js'
import { lookupUser } from './users.js'

/** The control channel a child inherits from the parent. */
export const CONTROL_FD = 3

/**
 * Pins the time zone before chroot, when /etc/localtime is about to vanish. Naming it in TZ
 * is enough (V8 and ICU carry their own zone data) and costs nothing; otherwise V8 and ICU
 * are made to read it now, which costs ICU's start-up (20-70 ms here).
 */
function keepTimeZone(): void {
  const tz = process.env.TZ
  if (tz !== undefined && !tz.startsWith(':') && !tz.startsWith('/')) return
  if (tz === undefined) {
    try {
      const target = readlinkSync('/etc/localtime')
      const at = target.lastIndexOf('zoneinfo/')
      if (at >= 0) {
        process.env.TZ = target.slice(at + 'zoneinfo/'.length)
        return
      }
    } catch {
      // Not a symbolic link into zoneinfo: read it the slow way.
    }
  }
  new Date().toString()
  Intl.DateTimeFormat().resolvedOptions()
}

/**
 * The kernel's signal to this child when the parent dies. SIGKILL, not SIGTERM: a child's
 * SIGTERM has a JavaScript listener (process.exit(0) above, or the application's), which
 * runs only when the event loop turns, so a child stuck in a loop would outlive its parent;
 * SIGKILL needs no cooperation. Nothing is lost by it: a parent's death already ends the
 * daemon, and the parent is the one that had anything to clean up.
 */
const PARENT_DEATH_SIGNAL = 'SIGKILL'

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
  const die = (err: unknown) => {
    if (isPeerGone(err)) return log.debug(`a peer is gone (${(err as Error).message}): waiting for SIGTERM`)
    log.error(err)
    process.exit(1)
  }
  process.on('uncaughtException', die)
  process.on('unhandledRejection', die)

  setCloexec(CONTROL_FD, true)
  const control = openChannel(CONTROL_FD, CONTROL_CHANNEL)
  const expected = new Set(daemon.peersOf(me.name))
  let go: () => void = () => {}
  let broken: (err: Error) => void = () => {}
  const channelsComplete = new Promise<void>((resolve, reject) => {
    go = resolve
    broken = reject
  })
  // Awaited only after privileges are dropped; until then a rejection must not count as unhandled.
  channelsComplete.catch(() => {})
  let settled = false
  /** The parent's pid as its control messages carry it (imsg's pid field). */
  let parentPid = 0
  // Before GO the error fails start(); after it, anything more from the parent is fatal too.
  const protocolError = (what: string) => {
    if (!settled) return broken(new StartupError(`control protocol: ${what}`))
    log.error(`control protocol: ${what}`)
    process.exit(1)
  }
  control.handle(ControlType.CHANNEL, (msg) => {
    const peer = Buffer.from(msg.payload).toString()
    if (msg.peerid !== CONTROL_VERSION)
      return protocolError(`version ${msg.peerid}, expected ${CONTROL_VERSION}`)
    if (msg.fd === undefined) return protocolError(`PRIVSEP_CHANNEL for "${peer}" without an fd`)
    if (settled || !expected.delete(peer)) {
      msg.closeFd()
      return protocolError(`unexpected channel to "${peer}"`)
    }
    daemon.attachChannel(peer, openChannel(msg.fd, options.peerChannel))
  })
  control.handle(ControlType.GO, (msg) => {
    if (msg.peerid !== CONTROL_VERSION)
      return protocolError(`version ${msg.peerid}, expected ${CONTROL_VERSION}`)
    if (settled) return protocolError(`a second ${controlTypeName[msg.type]}`)
    const count = decodeCount(msg.payload)
    const name = controlTypeName[msg.type]
    if (expected.size !== 0) {
      return protocolError(`${name} before the channel to ${[...expected].map((p) => `"${p}"`).join(', ')}`)
    }
    if (count !== daemon.channels.size) {
      return protocolError(`${name} counts ${count} channels, ${daemon.channels.size} arrived`)
    }
    settled = true
    parentPid = msg.pid
    go()
  })
  control.dispatch().then(
    () => {
      log.error('parent is gone: exiting')
      process.exit(1)
    },
    (err: unknown) => {
      log.error(`control channel failed: ${channelFailure(err)}`)
      process.exit(1)
    },
  )

  const user = me.username === undefined ? undefined : lookupUser(me.username)
  if (me.username !== undefined && user === undefined) {
    throw new StartupError(`user "${me.username}" does not exist`)
  }
  if (me.chrootPath !== undefined) keepTimeZone()
  await me.preChroot?.()
  dropPrivileges({ chrootPath: me.chrootPath, user, chroot })
  // Only now: the kernel forgets the parent-death signal when credentials change.
  setParentDeathSignal(PARENT_DEATH_SIGNAL)
  await channelsComplete
  // A parent that died before the call above was never signalled about: this child now
  // belongs to a reaper, and GO may have come before the end of the control channel.
  if (getppid() !== parentPid) {
    log.error('parent is gone: exiting')
    process.exit(1)
  }
  running()
  try {
    await me.preStart?.()
    for (const [peer, channel] of daemon.channels) dispatchPeer(peer, channel)
    control.message(ControlType.READY, undefined, { peerid: CONTROL_VERSION })
    // ipcmsg sends from a microtask queued by message(): let READY leave before an entry
    // point that keeps the thread busy from its first line.
    await Promise.resolve()
    await me.main()
  } catch (err) {
    if (!isPeerGone(err)) throw err
    log.debug(`a peer is gone (${(err as Error).message}): waiting for SIGTERM`)
    await new Promise(() => {})
  }
}

function dispatchPeer(peer: string, channel: Channel): void {
  channel.dispatch().then(
    () => log.debug(`channel to "${peer}" closed`),
    (err: unknown) => {
      if (isPeerGone(err)) return log.debug(`channel to "${peer}": a peer is gone: waiting for SIGTERM`)
      log.error(`channel to "${peer}" failed: ${channelFailure(err)}`)
      process.exit(1)
    },
  )
}
