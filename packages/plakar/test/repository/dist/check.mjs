// node check.mjs <dist dir> <file>: the ESM build, workers loaded from dist/.
import { createRequire } from 'node:module'
import { join } from 'node:path'

const [dist, file] = process.argv.slice(2)
const { roundTrip } = createRequire(import.meta.url)('./map-store.cjs')
const plakar = await import(join(dist, 'index.js'))
const snapshot = await import(join(dist, 'snapshot.js'))
process.stdout.write(JSON.stringify(await roundTrip(plakar, snapshot, file)))
