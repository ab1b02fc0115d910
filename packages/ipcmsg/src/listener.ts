import { unlinkSync } from 'node:fs'
import { Channel, type ChannelOptions } from './channel.js'
import { ChannelError } from './errors.js'
import { addon, type WatchHandle } from './native.js'

/**
 * A listening UNIX socket whose connections become Channels. The socket file
 * is created by listen() (which fails with EADDRINUSE if the path exists) and
 * removed by close(). Connections already accepted stay open.
 */
export class Listener {
  readonly path: string
  private readonly fd: number
  private watch: WatchHandle | undefined
  private retry: NodeJS.Timeout | undefined
  private refd = true
  private open = true
  private readonly onChannel: (channel: Channel) => void
  private readonly options: ChannelOptions

  static listen(
    path: string,
    onChannel: (channel: Channel) => void,
    options: ChannelOptions & { backlog?: number } = {},
  ): Listener {
    let fd: number
    try {
      fd = addon.listen(path, options.backlog ?? 128)
    } catch (err) {
      throw new ChannelError(`ipcmsg: cannot listen on ${path}: ${(err as Error).message}`, { cause: err })
    }
    return new Listener(path, fd, onChannel, options)
  }

  private constructor(
    path: string,
    fd: number,
    onChannel: (channel: Channel) => void,
    options: ChannelOptions,
  ) {
    this.path = path
    this.fd = fd
    this.onChannel = onChannel
    this.options = options
    this.startWatching()
  }

  private startWatching(): void {
    this.retry = undefined
    if (!this.open) return
    this.watch = addon.watchOpen(this.fd, () => this.acceptAll())
    if (!this.refd) addon.watchRef(this.watch, false)
  }

  private acceptAll(): void {
    while (this.open) {
      let conn: number
      try {
        conn = addon.accept(this.fd)
      } catch {
        // Out of descriptors (or memory): the connection waits in the
        // backlog. Stop watching for a while instead of spinning on it.
        addon.watchClose(this.watch!)
        this.watch = undefined
        this.retry = setTimeout(() => this.startWatching(), 100)
        if (!this.refd) this.retry.unref()
        return
      }
      if (conn < 0) return
      this.onChannel(Channel.fromFd(conn, this.options))
    }
  }

  /** Stops accepting, closes the socket and removes its file. */
  close(): void {
    if (!this.open) return
    this.open = false
    if (this.watch) addon.watchClose(this.watch)
    if (this.retry) clearTimeout(this.retry)
    addon.close(this.fd)
    try {
      unlinkSync(this.path)
    } catch {
      // Already removed by someone else: the goal is reached.
    }
  }

  unref(): this {
    this.refd = false
    if (this.watch) addon.watchRef(this.watch, false)
    this.retry?.unref()
    return this
  }

  ref(): this {
    this.refd = true
    if (this.watch) addon.watchRef(this.watch, true)
    this.retry?.ref()
    return this
  }
}
