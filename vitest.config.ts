import { defineConfig } from 'vitest/config';

// Tests import the TypeScript sources of the workspace packages through the
// `@batchflight/source` export condition, so no build is needed to test.
const conditions = ['@batchflight/source', 'node', 'import', 'module', 'default'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: conditions } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'bench/**/*.test.ts', 'examples/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
