import { defineConfig } from 'vitest/config'

// One runner for every package. Tests import packages by name, as users do; the
// "@poolp/source" export condition points those imports at src/ so a test never
// runs stale dist/ code. Child processes and workers that need plain JS use dist/,
// which `pnpm test` builds first.
export default defineConfig({
  resolve: { conditions: ['@poolp/source'] },
  ssr: { resolve: { conditions: ['@poolp/source'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'packages/*/src/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    passWithNoTests: true,
  },
})
