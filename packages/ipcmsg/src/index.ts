/**
 * @poolp/ipcmsg: OpenBSD imsg(3) for Node.
 *
 * - Channel: one end of a UNIX stream socket carrying imsg frames (16-byte
 *   header: type, length, peerid, pid) and passed descriptors.
 * - Message: a received frame; its receiver owns its fd.
 * - Dialect: 'classic' (u16 len + u16 flags) or '2024' (u32 len, bit 31 = fd).
 * - posix: socketpair, chroot, user and group lookup, parent-death signal, for privsep.
 * The wire is specified in docs/ipcmsg-wire.md.
 */
export { Catalog, type CatalogEntry, type Codec, empty, msgpack, raw } from './catalog.js'
export {
  Channel,
  type ChannelOptions,
  type Handler,
  type QueryOptions,
  type ReplyOptions,
  type SendOptions,
} from './channel.js'
export {
  ChannelClosedError,
  ChannelError,
  IpcmsgError,
  type IpcmsgErrorCode,
  isIpcmsgError,
  MessageTooLargeError,
  PayloadError,
  PeerClosedError,
  ProtocolError,
  QueryAbortedError,
  QueryTimeoutError,
  QueueFullError,
} from './errors.js'
export { Listener } from './listener.js'
export { Message } from './message.js'
export { PayloadReader, PayloadWriter } from './payload.js'
export {
  chroot,
  closeFd,
  dupFd,
  fdKind,
  type Group,
  getgrgid,
  getgrnam,
  getgrouplist,
  getParentDeathSignal,
  getppid,
  getpwnam,
  getpwuid,
  listenUnix,
  type Passwd,
  setCloexec,
  setParentDeathSignal,
  socketpair,
} from './posix.js'
export { DEFAULT_MAX_MESSAGE_SIZE, type DialectName, HEADER_SIZE } from './wire.js'
