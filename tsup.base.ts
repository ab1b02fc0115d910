import type { Options } from 'tsup'

/** What every package's build shares: ESM and CommonJS with type declarations, for Node 20. */
export const packageBuild = {
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  shims: true,
} satisfies Options
