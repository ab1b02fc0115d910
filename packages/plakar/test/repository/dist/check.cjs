// node check.cjs <dist dir> <file>: the CommonJS build, workers loaded from dist/.
const { join } = require('node:path')
const { roundTrip } = require('./map-store.cjs')

const [dist, file] = process.argv.slice(2)
roundTrip(require(join(dist, 'index.cjs')), require(join(dist, 'snapshot.cjs')), file).then((r) => process.stdout.write(JSON.stringify(r)))
