import { storeConformance } from './conformance.js'

let n = 0
storeConformance('memory', {
  freshLocation: () => `memory://conformance-${process.pid}-${n++}`,
  multiProcess: { skip: 'memory:// lives inside one process' },
  backdate: { skip: 'memory:// has no medium to change behind the store' },
})
