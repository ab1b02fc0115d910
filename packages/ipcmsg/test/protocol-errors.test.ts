import { ProtocolError } from '@poolp/ipcmsg'
import { describe, expect, it } from 'vitest'
import { devNull, header, openFds, rawPair } from './helpers.js'

const names = (t: number) => (t === 7 ? 'IMSG_SEVEN' : undefined)

/** Sends bytes (and an fd) to a fresh channel and returns how dispatch ended. */
async function outcome(
  writes: () => [Uint8Array, number?][],
  options = {},
): Promise<{ error: unknown; received: number[] }> {
  const before = openFds()
  const raw = rawPair({ typeName: names, ...options })
  const received: number[] = []
  raw.channel.handle(7, (msg) => {
    received.push(msg.payload.length)
    msg.closeFd()
  })
  const pending = raw.channel.query(99).catch((e) => e)
  for (const [bytes, fd] of writes()) raw.write(bytes, fd)
  const error = await raw.channel.dispatch().then(
    () => undefined,
    (e) => e,
  )
  // A failed channel rejects its queries with the same error.
  if (error) expect(await pending).toBe(error)
  raw.end()
  expect(openFds()).toBe(before)
  return { error, received }
}

describe('bad input closes the channel with a clear error', () => {
  it('refuses a frame larger than the maximum, naming the type', async () => {
    const { error } = await outcome(() => [[header(7, 20000)]])
    expect(error).toBeInstanceOf(ProtocolError)
    expect((error as Error).message).toBe(
      "ipcmsg: IMSG_SEVEN (type 7): length 20000 exceeds the channel's maximum of 16384 bytes",
    )
    expect((error as ProtocolError).type).toBe(7)
  })

  it('refuses a length shorter than the header', async () => {
    const { error } = await outcome(() => [[header(3, 8)]])
    expect((error as Error).message).toMatch(/type 3: length 8 is shorter than the 16-byte header/)
  })

  it('refuses unknown flag bits', async () => {
    const { error } = await outcome(() => [[header(7, 16, 2)]])
    expect((error as Error).message).toMatch(/IMSG_SEVEN \(type 7\): unknown header flags in classic dialect/)
  })

  it('refuses an fd flag without an fd, after delivering what came before', async () => {
    const { error, received } = await outcome(() => [
      [Buffer.concat([header(7, 18), Buffer.from('ok'), header(7, 16, 1)])],
    ])
    expect(received).toEqual([2])
    expect((error as Error).message).toMatch(
      /IMSG_SEVEN \(type 7\): flagged as carrying an fd but none was received/,
    )
  })

  it('refuses an fd sent with a frame not flagged for it, and closes that fd', async () => {
    const { error } = await outcome(() => [[header(7, 16), devNull()]])
    expect((error as Error).message).toMatch(/received 1 fd\(s\) that no message was flagged to carry/)
  })

  it('refuses an unknown type on a strict channel and closes its fd', async () => {
    const { error } = await outcome(() => [[header(8, 16, 1), devNull()]], { strict: true })
    expect((error as Error).message).toBe('ipcmsg: type 8: unexpected message')
  })

  it('drops an unknown type on a lenient channel (closing its fd) and goes on', async () => {
    const raw = rawPair({ typeName: names })
    const got: number[] = []
    raw.channel.handle(7, (m) => {
      got.push(m.payload.length)
    })
    const done = raw.channel.dispatch()
    raw.write(header(8, 16, 1), devNull())
    raw.write(Buffer.concat([header(7, 19), Buffer.from('abc')]))
    raw.end()
    await expect(done).resolves.toBeUndefined()
    expect(got).toEqual([3])
  })

  it('keeps the process running and reports a frame cut short by the peer closing', async () => {
    const raw = rawPair()
    const q = raw.channel.query(1)
    await new Promise((r) => setImmediate(r))
    raw.write(Buffer.concat([header(7, 100), Buffer.alloc(10)]))
    raw.end()
    await expect(raw.channel.dispatch()).resolves.toBeUndefined()
    await expect(q).rejects.toThrow(/peer closed the channel, 26 bytes of an unfinished message dropped/)
  })

  it('reads frames split at every byte boundary', async () => {
    const raw = rawPair({ typeName: names })
    const got: string[] = []
    raw.channel.handle(7, (m) => {
      got.push(m.payload.toString())
    })
    const done = raw.channel.dispatch()
    const frames = Buffer.concat([
      header(7, 21),
      Buffer.from('hello'),
      header(7, 16),
      header(7, 19),
      Buffer.from('end'),
    ])
    for (let i = 0; i < frames.length; i++) {
      raw.write(frames.subarray(i, i + 1))
      await new Promise((r) => setImmediate(r))
    }
    raw.end()
    await done
    expect(got).toEqual(['hello', '', 'end'])
  })
})
