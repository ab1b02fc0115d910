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
  private readonly watch: WatchHandle
  private open = true

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
    this.watch = addon.watchOpen(fd, () => {
      // Accept everything waiting; an accept error (EMFILE) leaves the
      // connection in the backlog for the next wakeup.
      while (this.open) {
        let conn: number
        try {
          conn = addon.accept(this.fd)
        } catch {
          return
        }
        if (conn < 0) return
        onChannel(Channel.fromFd(conn, options))
      }
    })
  }

  /** Stops accepting, closes the socket and removes its file. */
  close(): void {
    if (!this.open) return
    this.open = false
    addon.watchClose(this.watch)
    addon.close(this.fd)
    try {
      unlinkSync(this.path)
    } catch {
      // Already removed by someone else: the goal is reached.
    }
  }

  unref(): this {
    addon.watchRef(this.watch, false)
    return this
  }

  ref(): this {
    addon.watchRef(this.watch, true)
    return this
  }
}
