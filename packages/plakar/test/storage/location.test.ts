import { homedir } from 'node:os'
import { isPlakarError } from '@poolp/plakar'
import {
  FsStore,
  MemoryStore,
  openStore,
  parseLocation,
  registerStore,
  SqliteStore,
  type Store,
  storeSchemes,
} from '@poolp/plakar/storage'
import { describe, expect, it } from 'vitest'

function fails(fn: () => unknown, code: string): string {
  try {
    fn()
  } catch (err) {
    expect(isPlakarError(err, code), String(err)).toBe(true)
    return (err as Error).message
  }
  throw new Error('expected a failure')
}

describe('locations', () => {
  it('plain paths, ~ and relative paths mean fs', () => {
    expect(parseLocation('/srv/repo').href).toBe('fs:///srv/repo')
    expect(parseLocation('~/.plakar').href).toBe(`fs://${homedir()}/.plakar`)
    expect(parseLocation('~').href).toBe(`fs://${homedir()}`)
    expect(parseLocation('repo', '/home/u').href).toBe('fs:///home/u/repo')
    expect(parseLocation('./a/../b/', '/home/u').href).toBe('fs:///home/u/b')
    // A colon without // is part of a file name, not a scheme.
    expect(parseLocation('backup:2021', '/x').href).toBe('fs:///x/backup:2021')
  })

  it('fs:// and sqlite:// take absolute paths, with ~ expanded', () => {
    expect(parseLocation('fs:///srv/repo').href).toBe('fs:///srv/repo')
    expect(parseLocation('sqlite:///srv/repo.db').href).toBe('sqlite:///srv/repo.db')
    expect(parseLocation('sqlite://~/r.db').href).toBe(`sqlite://${homedir()}/r.db`)
    expect(parseLocation('SQLITE:///x.db').protocol).toBe('sqlite:')
  })

  it('odd characters in paths survive the trip through a URL', () => {
    const store = openStore('/tmp/a b/c%d#e?f')
    expect(store).toBeInstanceOf(FsStore)
    expect((store as FsStore).root).toBe('/tmp/a b/c%d#e?f')
    expect((openStore('sqlite:///tmp/x%20y.db') as SqliteStore).path).toBe('/tmp/x y.db')
    // A store's location parses back to the same place.
    expect((openStore(store.location) as FsStore).root).toBe('/tmp/a b/c%d#e?f')
    expect(store.location).toBe('fs:///tmp/a%20b/c%25d%23e%3Ff')
  })

  it('each scheme opens its backend without touching the medium', () => {
    expect(openStore('fs:///nonexistent/dir')).toBeInstanceOf(FsStore)
    expect(openStore('sqlite:///nonexistent/x.db')).toBeInstanceOf(SqliteStore)
    expect(openStore('memory://t')).toBeInstanceOf(MemoryStore)
    expect(openStore('memory://t').location).toBe('memory://t')
    expect(openStore('/srv//repo/').location).toBe('fs:///srv/repo')
    expect(storeSchemes()).toEqual(expect.arrayContaining(['fs', 'memory', 'sqlite']))
  })

  it('bad locations fail with one clear line', () => {
    expect(fails(() => openStore(''), 'STORAGE_BAD_LOCATION')).toBe('empty repository location')
    expect(fails(() => openStore('s3://bucket/x'), 'STORAGE_BAD_LOCATION')).toMatch(
      /^s3:\/\/bucket\/x: unknown storage scheme s3:\/\/ \(known: .*fs.*sqlite/,
    )
    expect(fails(() => openStore('fs://host/x'), 'STORAGE_BAD_LOCATION')).toMatch(/a host is not allowed/)
    expect(fails(() => openStore('sqlite://'), 'STORAGE_BAD_LOCATION')).toMatch(/absolute path/)
    expect(fails(() => openStore('fs:///'), 'STORAGE_BAD_LOCATION')).toMatch(/root directory/)
    expect(fails(() => openStore('~bob/repo'), 'STORAGE_BAD_LOCATION')).toMatch(/~user is not supported/)
    expect(fails(() => openStore('memory://'), 'STORAGE_BAD_LOCATION')).toMatch(/want memory:\/\/name/)
    expect(fails(() => openStore('fs:///a%zz'), 'STORAGE_BAD_LOCATION')).toMatch(/percent-encoding/)
  })

  it('a new scheme plugs in through the registry', () => {
    const opened: URL[] = []
    registerStore({
      scheme: 'test-scheme',
      fromURL(url) {
        opened.push(url)
        return new MemoryStore(`via-${url.host}`) as Store
      },
    })
    expect(openStore('test-scheme://h:1234/x').location).toBe('memory://via-h:1234')
    expect(opened[0]?.port).toBe('1234')
    expect(() => registerStore({ scheme: 'fs', fromURL: () => new MemoryStore('x') })).toThrow(
      /already registered/,
    )
  })
})
