/**
 * The control protocol on fd 3, between the parent and each child (docs/privsep.md).
 *
 * Only privsep speaks on this channel; the application's parent<->child traffic has a
 * socketpair of its own, so its message types never collide with these. Every message
 * carries CONTROL_VERSION in peerid (as OpenBSD daemons put their protocol version there);
 * anything else, or an unknown type, is fatal for the channel.
 */
export const CONTROL_VERSION = 1

export const ControlType = {
  /** parent -> child: payload the peer's name (UTF-8), fd one end of that pair's socketpair. */
  CHANNEL: 1,
  /** parent -> child: payload u32 number of CHANNEL messages sent; the last control message. */
  GO: 2,
  /** child -> parent: privileges dropped, preStart done, dispatching; empty payload. */
  READY: 3,
} as const

export const controlTypeName: Record<number, string> = {
  1: 'PRIVSEP_CHANNEL',
  2: 'PRIVSEP_GO',
  3: 'PRIVSEP_READY',
}

/** A u32 in host byte order, as C imsg peers write it. */
export function encodeCount(n: number): Uint8Array {
  return new Uint8Array(new Uint32Array([n]).buffer)
}

export function decodeCount(data: Uint8Array): number {
  if (data.length !== 4) throw new Error(`PRIVSEP_GO payload is ${data.length} bytes, expected 4`)
  return new Uint32Array(Uint8Array.from(data).buffer)[0]!
}

/** Channel options of the control channel: peerid is ours (the version), unknown types fatal. */
export const CONTROL_CHANNEL = {
  peerids: 'application',
  strict: true,
  typeName: (type: number) => controlTypeName[type],
} as const
