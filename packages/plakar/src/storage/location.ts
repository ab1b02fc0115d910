/**
 * Locations: what a user writes after `on`. A location with `scheme://` is a URL whose
 * scheme picks the backend; anything else is a filesystem path. `~` and `~/x` expand to
 * the home directory, both in plain paths and right after `fs://` or `sqlite://`
 * (`sqlite://~/backups.db`). Relative paths resolve against the working directory.
 *
 *   /srv/repo, ./repo, ~/.plakar   -> fs:///srv/repo ...
 *   fs:///srv/repo                 -> the same
 *   sqlite:///srv/repo.db          -> SQLite file /srv/repo.db
 *   memory://name                  -> in-process store (tests)
 */
import { homedir } from 'node:os'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { StorageError } from '../errors.js'

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i

/** The default repository when the user names none, as shown to users. */
export const DEFAULT_LOCATION = '~/.plakar'

/** DEFAULT_LOCATION in the home directory of `env` (the CLI's environment). */
export function defaultLocation(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return (env.HOME || homedir()) + DEFAULT_LOCATION.slice(1)
}

export function parseLocation(location: string, cwd: string = process.cwd()): URL {
  if (typeof location !== 'string' || location.trim() === '') {
    throw new StorageError('STORAGE_BAD_LOCATION', 'empty repository location')
  }
  const scheme = SCHEME.exec(location)?.[1]?.toLowerCase()
  if (scheme === undefined) return pathURL('fs', expandHome(location, location), cwd)
  const rest = location.slice(scheme.length + 3)
  if ((scheme === 'fs' || scheme === 'sqlite') && rest.startsWith('~')) {
    return pathURL(scheme, expandHome(rest, location), cwd)
  }
  try {
    return new URL(location)
  } catch {
    throw new StorageError('STORAGE_BAD_LOCATION', `${location}: not a valid URL`)
  }
}

/** The absolute path of a path-like URL (`fs:///p`, `sqlite:///p`), decoded. */
export function urlPath(url: URL): string {
  const shown = url.href
  if (url.host !== '') {
    throw new StorageError(
      'STORAGE_BAD_LOCATION',
      `${shown}: a host is not allowed here (write ${url.protocol}///absolute/path)`,
    )
  }
  if (url.search !== '' || url.hash !== '') {
    throw new StorageError('STORAGE_BAD_LOCATION', `${shown}: unexpected query or fragment`)
  }
  let path: string
  try {
    path = decodeURIComponent(url.pathname)
  } catch {
    throw new StorageError('STORAGE_BAD_LOCATION', `${shown}: bad percent-encoding`)
  }
  if (!path.startsWith('/') || path.includes('\0')) {
    throw new StorageError('STORAGE_BAD_LOCATION', `${shown}: want an absolute path`)
  }
  const normal = resolve(path)
  if (normal === '/') throw new StorageError('STORAGE_BAD_LOCATION', `${shown}: refusing the root directory`)
  return normal
}

function expandHome(path: string, shown: string): string {
  if (path === '~') return homedir()
  if (path.startsWith('~/')) return homedir() + path.slice(1)
  if (path.startsWith('~')) {
    throw new StorageError('STORAGE_BAD_LOCATION', `${shown}: ~user is not supported, write the full path`)
  }
  return path
}

function pathURL(scheme: string, path: string, cwd: string): URL {
  return new URL(pathLocation(scheme, resolve(cwd, path)))
}

/**
 * The location of an absolute path under `scheme`, as a URL that parses back to the same
 * path: what a URL cannot hold (space, %, #, ?) is percent-encoded, which urlPath decodes.
 */
export function pathLocation(scheme: string, path: string): string {
  return `${scheme}://${pathToFileURL(path).href.slice('file://'.length)}`
}
