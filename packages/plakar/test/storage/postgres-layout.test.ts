/**
 * postgres layout 1 read back as the SQL tables hold it: objects split into segments of
 * another size than ours, read whole and in ranges by both read paths (binary COPY for
 * large reads, prepared statements for small ones), and a lost segment reported, never
 * returned as garbage.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, expect, it } from 'vitest'
import { PostgresStore, parsePostgresURL } from '../../src/storage/store-postgres.js'
import { schemas, withClient } from './postgres-fixture.js'

const locations = schemas('plakar_layout')
afterAll(() => locations.dropAll())

const SEGMENT = 100_000
const SIZE = 1_000_003

async function storeWith(data: Buffer) {
  const location = locations.fresh()
  const store = new PostgresStore(parsePostgresURL(new URL(location)), SEGMENT)
  await store.create()
  await store.put('pack', 'abc', data)
  return { store, schema: new URL(location).searchParams.get('schema')! }
}

it('reads objects of many segments, whole and in ranges on either side of the COPY size', async () => {
  const data = randomBytes(SIZE)
  const { store, schema } = await storeWith(data)
  const segments = await withClient((c) =>
    c.query(`SELECT count(*)::int AS n FROM "${schema}".segments`).then((r) => r.rows[0].n),
  )
  expect(segments).toBe(Math.ceil(SIZE / SEGMENT))
  expect(Buffer.from(await store.get('pack', 'abc')).equals(data)).toBe(true)
  for (const [offset, length] of [
    [0, 1],
    [99_999, 2],
    [99_999, 32_767],
    [99_999, 32_768],
    [150_000, 250_001],
    [0, SIZE],
    [SIZE - 40_000, 40_000],
    [SIZE, 0],
  ] as const) {
    const got = Buffer.from(await store.get('pack', 'abc', offset, length))
    expect(got.equals(data.subarray(offset, offset + length)), `${offset}+${length}`).toBe(true)
  }
  await expect(store.get('pack', 'abd', 0, 40_000)).rejects.toMatchObject({ code: 'STORAGE_NOT_FOUND' })
  await expect(store.get('pack', 'abd')).rejects.toMatchObject({ code: 'STORAGE_NOT_FOUND' })
  await store.close()
})

it('a lost segment is STORAGE_SHORT_READ on every read path, never garbage', async () => {
  const { store, schema } = await storeWith(randomBytes(SIZE))
  await withClient((c) => c.query(`DELETE FROM "${schema}".segments WHERE start = $1`, [3 * SEGMENT]))
  for (const [offset, length] of [
    [undefined, undefined],
    [3 * SEGMENT + 10, 100],
    [2 * SEGMENT, 2 * SEGMENT],
  ] as const) {
    await expect(store.get('pack', 'abc', offset, length), `${offset}+${length}`).rejects.toMatchObject({
      code: 'STORAGE_SHORT_READ',
    })
  }
  expect((await store.get('pack', 'abc', 0, 1000)).byteLength).toBe(1000)
  await store.close()
})
