/**
 * The storage conformance suite against this machine's PostgreSQL, one schema per
 * location (postgres-fixture.ts), all dropped afterwards.
 */
import { afterAll } from 'vitest'
import { storeConformance } from './conformance.js'
import { schemas, withClient } from './postgres-fixture.js'

const locations = schemas('plakar_conf')
afterAll(() => locations.dropAll())

storeConformance('postgres', {
  freshLocation: locations.fresh,
  backdate: (location, kind, name, mtime) =>
    withClient(async (c) => {
      const schema = new URL(location).searchParams.get('schema')
      await c.query(`UPDATE "${schema}".objects SET mtime = $1 WHERE kind = $2 AND name = $3`, [
        mtime,
        kind,
        name,
      ])
    }),
})
