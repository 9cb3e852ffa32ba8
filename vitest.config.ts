import { defineConfig } from 'vitest/config';

// Tests import the TypeScript sources of the workspace packages through the
// `@batchflight/source` export condition, so no build is needed to test.
const conditions = ['@batchflight/source', 'node', 'import', 'module', 'default'];

export default defineConfig({
  resolve: { conditions },
  // Vitest also hands the SSR conditions to Node as --conditions, which applies them to
  // require(): 'import'/'module' there would make CJS packages load the ESM build of
  // their dual-format dependencies (pg → pg-pool). Vite adds import/require by itself.
  ssr: {
    resolve: {
      conditions: ['@batchflight/source', 'node'],
      externalConditions: ['@batchflight/source', 'node'],
    },
  },
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'bench/**/*.test.ts',
      'examples/**/*.test.ts',
      'scripts/**/*.test.ts',
    ],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
