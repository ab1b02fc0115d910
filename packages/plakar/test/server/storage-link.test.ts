/**
 * The storage process's side of the storage link, fed headers a taken-over session could
 * send: every one gets an ERROR answer, and none makes an answer larger than the channel
 * takes (which would take the storage process, and so the daemon, down).
 */
import { describe, expect, it } from 'vitest'
import { decodeLink, encodeLink, LINK, StoreServer } from '../../src/server/storage-link.js'
import { MemoryStore } from '../../src/storage/store-memory.js'

async function served(maxBody = 1000) {
  const store = new MemoryStore(`link-${Math.random()}`)
  await store.create()
  await store.put('pack', 'aa', Buffer.alloc(5000, 1))
  return new StoreServer(store, maxBody)
}

async function ask(server: StoreServer, type: number, header: Record<string, unknown>) {
  const answer = await server.answer(type, encodeLink(header as never))
  return { type: answer.type, ...decodeLink(answer.payload) }
}

describe('storage link, storage side', () => {
  it('a get from an offset to the end is held to the largest answer, like a whole get', async () => {
    const server = await served()
    const whole = await ask(server, LINK.GET, { kind: 'pack', name: 'aa' })
    expect(whole.type).toBe(LINK.ERROR)
    const tail = await ask(server, LINK.GET, { kind: 'pack', name: 'aa', offset: 100 })
    expect(tail.type).toBe(LINK.ERROR)
    expect(tail.header.message).toMatch(/over 1000 bytes/)
    const end = await ask(server, LINK.GET, { kind: 'pack', name: 'aa', offset: 4500 })
    expect(end.type).toBe(LINK.OK)
    expect(end.body.length).toBe(500)
  })

  it('unknown kinds and numbers that are not non-negative integers are refused', async () => {
    const server = await served()
    for (const header of [
      { kind: 'passwd', name: 'aa' },
      { kind: '../etc', name: 'aa' },
      { kind: 'pack', name: 'aa', offset: -1, length: 10 },
      { kind: 'pack', name: 'aa', offset: 0.5, length: 10 },
      { kind: 'pack', name: 'aa', offset: 0, length: 2 ** 60 },
      { kind: 'pack', name: 'aa', offset: '0', length: 10 },
    ]) {
      const r = await ask(server, LINK.GET, header)
      expect(r.type, JSON.stringify(header)).toBe(LINK.ERROR)
      expect(r.header.code).toBe('STORAGE_IO')
    }
  })

  it('listings left open are bounded: the oldest is dropped, and its next page is an error', async () => {
    const store = new MemoryStore(`link-${Math.random()}`)
    await store.create()
    for (let i = 0; i < 2100; i++) await store.put('lock', `l${i}`, Buffer.alloc(0))
    const server = new StoreServer(store, 1 << 20)
    const first = await ask(server, LINK.LIST_OPEN, { kind: 'lock' })
    expect(first.header.done).toBe(false)
    for (let i = 0; i < 1024; i++) await ask(server, LINK.LIST_OPEN, { kind: 'lock' })
    const next = await ask(server, LINK.LIST_NEXT, { handle: first.header.handle })
    expect(next.type).toBe(LINK.ERROR)
    expect(next.header.message).toMatch(/no listing/)
  })
})
