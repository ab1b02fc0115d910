/**
 * The storage conformance suite, unchanged, through a real `plakar server` over each
 * transport: TCP, a UNIX socket and TLS (pinned certificate). Each fresh location is a new
 * daemon serving a new fs repository; the suite then reaches it only as plakar://.
 */
import { utimesSync } from 'node:fs'
import { join } from 'node:path'
import type { ObjectKind } from '@poolp/plakar/storage'
import { afterAll, beforeAll } from 'vitest'
import { storeConformance } from '../storage/conformance.js'
import { fsObjectPath } from '../storage/objects.js'
import {
  ensureServerUser,
  makeCertificate,
  type RunningServer,
  removeBase,
  serverBase,
  startServer,
  TOKENS,
} from './daemon.js'

let base = ''
let cert: ReturnType<typeof makeCertificate>
const running: RunningServer[] = []
/** The fs repository behind each location handed to the suite. */
const repositoryOf = new Map<string, string>()

beforeAll(() => {
  ensureServerUser()
  base = serverBase()
  cert = makeCertificate(base)
  process.env.PLAKAR_TOKEN = TOKENS.full
})
afterAll(async () => {
  await next?.catch(() => undefined)
  await Promise.all(running.map((s) => s.stop()))
  removeBase(base)
})

let n = 0
/** The next daemon, started while the current test runs: a daemon takes most of a second. */
let next: Promise<{ server: RunningServer; repository: string }> | undefined

function launch(): Promise<{ server: RunningServer; repository: string }> {
  const repository = join(base, `repo-${n++}`)
  return startServer({ repository, dir: base, tls: cert }).then((server) => {
    running.push(server)
    return { server, repository }
  })
}

async function fresh(transport: 'tcp' | 'unix' | 'tls'): Promise<string> {
  const { server, repository } = await (next ?? launch())
  next = launch()
  // A test uses at most a few locations at once: older daemons can go.
  while (running.length > 5) void running.shift()!.stop()
  const location =
    transport === 'tls' ? `${server.tls}?fingerprint=sha256:${cert.fingerprint}` : server[transport]
  repositoryOf.set(location, repository)
  return location
}

for (const transport of ['tcp', 'unix', 'tls'] as const) {
  storeConformance(`plakar:// (${transport})`, {
    freshLocation: () => fresh(transport),
    backdate: async (location, kind: ObjectKind, name, mtime) => {
      utimesSync(fsObjectPath(repositoryOf.get(location)!, kind, name), mtime / 1000, mtime / 1000)
    },
  })
}
