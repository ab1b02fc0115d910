/**
 * PostgreSQL for tests: the machine's server (127.0.0.1:5432, trust auth; .ci/run starts
 * it), or PLAKAR_TEST_POSTGRES. Tests work in schemas of their own, named from a prefix
 * with the test process's pid, and drop them afterwards: the machine is left as found.
 */
import pg from 'pg'

export const PG_URL = process.env.PLAKAR_TEST_POSTGRES ?? 'postgres://root@127.0.0.1:5432/test'

/** A client for `url` (default PG_URL) for the time of `run`. */
export async function withClient<T>(run: (c: pg.Client) => Promise<T>, url = PG_URL): Promise<T> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    return await run(c)
  } finally {
    await c.end()
  }
}

/** Schema names `<prefix>_<pid>_<n>`, as postgres:// locations, and a way to drop them all. */
export function schemas(prefix: string, url = PG_URL) {
  const stem = `${prefix}_${process.pid}_`
  let n = 0
  return {
    fresh: (): string => `${url}?schema=${stem}${n++}`,
    dropAll: () =>
      withClient(async (c) => {
        const r = await c.query<{ s: string }>(
          'SELECT nspname AS s FROM pg_namespace WHERE nspname LIKE $1',
          [`${stem}%`],
        )
        for (const { s } of r.rows) await c.query(`DROP SCHEMA "${s}" CASCADE`)
      }, url),
  }
}
