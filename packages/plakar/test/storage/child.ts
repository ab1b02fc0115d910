/**
 * A second (third, ...) process using the same location, for the conformance suite:
 *   node --import tsx child.ts <location> <job> <json args>
 * Prints one JSON line per event on stdout; exits 0 when the job completes.
 */
import { isPlakarError } from '../../src/errors.js'
import { openStore } from '../../src/storage/index.js'
import { objectBytes, objectName, objectSize } from './objects.js'

const [location, job, rawArgs] = process.argv.slice(2)
const args = JSON.parse(rawArgs ?? '{}') as Record<string, number | string>
const say = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`)

const store = openStore(location!)
await store.open()

if (job === 'writers') {
  // Unique names, names shared with the other writers (same bytes), one exclusive name
  // raced with different bytes, and listings checked while the others write.
  const me = String(args.me)
  const problems: string[] = []
  let lockWon = false
  const check = async () => {
    for await (const { name, size } of store.list('pack')) {
      if (size !== objectSize(name)) problems.push(`list: ${name} has size ${size}`)
    }
  }
  for (let i = 0; i < Number(args.count); i++) {
    const own = objectName(`own-${me}`, i)
    const shared = objectName('shared', i)
    await store.put('pack', own, objectBytes(own))
    await store.put('pack', shared, objectBytes(shared))
    if (i === 2) {
      try {
        await store.put('lock', 'race', Buffer.from(`held by ${me}`))
        lockWon = true
      } catch (err) {
        if (!isPlakarError(err, 'STORAGE_EXISTS')) throw err
      }
    }
    if (i % 4 === 0) await check()
  }
  await check()
  say({ lockWon, problems })
} else if (job === 'put-loop') {
  // Puts big objects until killed, saying which ones it starts and which completed.
  say({ ready: true })
  const size = Number(args.size)
  for (let i = 0; ; i++) {
    const name = objectName(String(args.tag), i)
    const data = objectBytes(name, size)
    say({ putting: name })
    await store.put('pack', name, data)
    say({ done: name })
  }
} else {
  throw new Error(`unknown job ${job}`)
}
await store.close()
