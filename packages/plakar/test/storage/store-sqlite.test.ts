import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isPlakarError } from '@poolp/plakar'
import { type ObjectInfo, openStore, type Store } from '@poolp/plakar/storage'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { objectBytes } from './objects.js'

// Made before the tests, not at import: a run that filters every test out leaves nothing behind.
let dir = ''
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'plakar-sqlite-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
const fresh = () => join(dir, `r${n++}.db`)

/** A file as plakar with sqlite layout 1 created it (docs/plakar-storage.md); left open, as such a plakar would. */
function layout1(path: string): Database.Database {
  const db = new Database(path)
  db.pragma('journal_mode = wal')
  db.exec(`
    CREATE TABLE objects (
      id INTEGER PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, size INTEGER NOT NULL,
      UNIQUE (kind, name)
    );
    CREATE TABLE segments (
      object INTEGER NOT NULL, start INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (object, start)
    );
  `)
  db.pragma('application_id = 1347177298')
  db.pragma('user_version = 1')
  return db
}

async function list(store: Store): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = []
  for await (const info of store.list('pack')) out.push(info)
  return out.sort((x, y) => (x.name < y.name ? -1 : 1))
}

async function failure(p: Promise<unknown>, code: string): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(isPlakarError(err, code), String(err)).toBe(true)
  return (err as Error).message
}

describe('sqlite store layout', () => {
  it('marks the file, uses WAL and 64 KiB pages, and splits objects into segments', async () => {
    const path = fresh()
    const store = openStore(`sqlite://${path}`)
    await store.create()
    await store.put('pack', 'abcd', objectBytes('abcd', 200_000))
    await store.close()
    const db = new Database(path, { readonly: true })
    expect(db.pragma('application_id', { simple: true })).toBe(0x504c4b52)
    expect(db.pragma('user_version', { simple: true })).toBe(2)
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
    expect(db.pragma('page_size', { simple: true })).toBe(65536)
    expect(db.pragma('auto_vacuum', { simple: true })).toBe(2)
    const row = db.prepare("SELECT id, size FROM objects WHERE kind = 'pack' AND name = 'abcd'").get() as {
      id: number
      size: number
    }
    expect(row.size).toBe(200_000)
    const segs = db
      .prepare('SELECT start, length(data) AS len FROM segments WHERE object = ? ORDER BY start')
      .all(row.id)
    expect(segs).toEqual([
      { start: 0, len: 65536 },
      { start: 65536, len: 65536 },
      { start: 131072, len: 65536 },
      { start: 196608, len: 3392 },
    ])
    db.close()
  })

  it('reads objects whose segments have other sizes (a reader never assumes the size)', async () => {
    const path = fresh()
    const store = openStore(`sqlite://${path}`)
    await store.create()
    const data = objectBytes('odd', 1000)
    const db = new Database(path)
    const id = db
      .prepare("INSERT INTO objects (kind, name, size, mtime) VALUES ('index', 'odd', 1000, 0)")
      .run().lastInsertRowid
    for (const [start, end] of [
      [0, 7],
      [7, 500],
      [500, 501],
      [501, 1000],
    ] as const) {
      db.prepare('INSERT INTO segments (object, start, data) VALUES (?, ?, ?)').run(
        id,
        start,
        data.subarray(start, end),
      )
    }
    db.close()
    expect(Buffer.from(await store.get('index', 'odd')).equals(data)).toBe(true)
    for (const [o, l] of [
      [0, 1000],
      [5, 10],
      [499, 3],
      [500, 1],
      [600, 400],
    ] as const) {
      expect(Buffer.from(await store.get('index', 'odd', o, l)).equals(data.subarray(o, o + l))).toBe(true)
    }
    await store.close()
  })

  it('a missing segment is reported, never returned as garbage', async () => {
    const path = fresh()
    const store = openStore(`sqlite://${path}`)
    await store.create()
    await store.put('pack', 'abcd', objectBytes('abcd', 200_000))
    const db = new Database(path)
    db.prepare('DELETE FROM segments WHERE start = 65536').run()
    db.close()
    expect(await failure(store.get('pack', 'abcd'), 'STORAGE_SHORT_READ')).toMatch(/lacks bytes 65536/)
    expect(
      Buffer.from(await store.get('pack', 'abcd', 10, 100)).equals(
        objectBytes('abcd', 200_000).subarray(10, 110),
      ),
    ).toBe(true)
    await failure(store.get('pack', 'abcd', 65000, 1000), 'STORAGE_SHORT_READ')
    await store.close()
  })

  it('bad locations: a missing directory, a file that is not SQLite, another program’s database', async () => {
    expect(await failure(openStore('sqlite:///nope/x.db').create(), 'STORAGE_BAD_LOCATION')).toBe(
      'sqlite:///nope/x.db: directory /nope does not exist',
    )
    expect(await failure(openStore('sqlite:///nope/x.db').open(), 'STORAGE_NOT_FOUND')).toBe(
      'sqlite:///nope/x.db: no repository here',
    )
    const text = fresh()
    writeFileSync(text, 'just some text, long enough to have a header of sorts, not a database at all')
    expect(await failure(openStore(`sqlite://${text}`).open(), 'STORAGE_BAD_LOCATION')).toBe(
      `sqlite://${text}: not a SQLite database`,
    )
    await failure(openStore(`sqlite://${text}`).create(), 'STORAGE_BAD_LOCATION')
    const other = fresh()
    const db = new Database(other)
    db.exec('CREATE TABLE t (x)')
    db.close()
    expect(await failure(openStore(`sqlite://${other}`).open(), 'STORAGE_BAD_LOCATION')).toMatch(
      /another program/,
    )
    expect(await failure(openStore(`sqlite://${other}`).create(), 'STORAGE_BAD_LOCATION')).toMatch(
      /another program/,
    )
    const untouched = new Database(other, { readonly: true })
    expect(untouched.pragma('journal_mode', { simple: true })).toBe('delete')
    expect(untouched.pragma('application_id', { simple: true })).toBe(0)
    untouched.close()
  })

  it('refuses a layout from a newer plakar', async () => {
    const path = fresh()
    await openStore(`sqlite://${path}`).create()
    const db = new Database(path)
    db.pragma('user_version = 3')
    db.close()
    expect(await failure(openStore(`sqlite://${path}`).open(), 'STORAGE_BAD_LOCATION')).toMatch(
      /layout 3 is newer/,
    )
  })

  it('upgrades a layout 1 file in place: its objects take the upgrade time, old writers get stamped', async () => {
    const path = fresh()
    const old = layout1(path)
    const data = objectBytes('abcd', 100_000)
    const id = old
      .prepare("INSERT INTO objects (kind, name, size) VALUES ('pack', 'abcd', 100000)")
      .run().lastInsertRowid
    old.prepare('INSERT INTO segments (object, start, data) VALUES (?, 0, ?)').run(id, data)
    const before = Date.now()
    const [a, b] = [openStore(`sqlite://${path}`), openStore(`sqlite://${path}`)]
    await a.open()
    await b.open() // finds it done
    const after = Date.now()
    expect(old.pragma('user_version', { simple: true })).toBe(2)
    const [listed] = await list(a)
    expect(listed!.name).toBe('abcd')
    expect(listed!.mtime).toBeGreaterThanOrEqual(before)
    expect(listed!.mtime).toBeLessThanOrEqual(after)
    expect(Buffer.from(await b.get('pack', 'abcd')).equals(data)).toBe(true)
    // A layout 1 plakar that had the file open goes on inserting rows without mtime.
    const stale = Date.now()
    old.prepare("INSERT INTO objects (kind, name, size) VALUES ('pack', 'ef', 0)").run()
    const inserted = (await list(b)).find((o) => o.name === 'ef')!
    expect(inserted.mtime).toBeGreaterThanOrEqual(stale - 1)
    expect(inserted.mtime).toBeLessThanOrEqual(Date.now())
    await a.put('pack', 'gh', Buffer.from('new'))
    await a.put('pack', 'abcd', data)
    expect((await list(b)).map((o) => o.name)).toEqual(['abcd', 'ef', 'gh'])
    old.close()
    await a.close()
    await b.close()
  })

  it('clean() gives the pages of deleted objects back to the filesystem', async () => {
    const path = fresh()
    const store = openStore(`sqlite://${path}`)
    await store.create()
    for (let i = 0; i < 8; i++) await store.put('pack', `a${i}`, objectBytes(`a${i}`, 1 << 20))
    for (let i = 0; i < 8; i++) await store.delete('pack', `a${i}`)
    const db = new Database(path, { readonly: true })
    const freeBefore = db.pragma('freelist_count', { simple: true }) as number
    expect(freeBefore).toBeGreaterThan(100)
    await store.clean()
    expect(db.pragma('freelist_count', { simple: true })).toBeLessThan(freeBefore / 10)
    db.close()
    await store.close()
  })
})
