// @ts-check
/**
 * The import-graph check of `npm run lint` (dependency-cruiser).
 *
 * It holds two promises of the architecture that eslint's per-file rules cannot see:
 *
 * - no cycles anywhere in the sources and tests (`packages/*\/src`, `examples`, `bench`,
 *   `scripts`), type-only imports included: a cycle through types still ties two files
 *   together for whoever reads or moves them;
 * - capabilities meet only at their front doors: inside the core package a capability folder
 *   imports `core/` freely but another capability only through that capability's `index.ts`,
 *   `core/` imports no capability, and the adapter packages import `batchflight` by its package
 *   exports (`batchflight`, `batchflight/cache`, …), never by a path into its sources.
 *
 * Workspace imports are followed into the TypeScript sources through the `@batchflight/source`
 * export condition, as vitest and `tsconfig.typecheck.json` resolve them, so the graph is the
 * one the tests run and no build is needed to check it.
 */

/**
 * A capability folder of `packages/batchflight/src`: every folder but `core/` (batch, cache,
 * singleflight, dataloader, jobs, retry, circuit-breaker, bulkhead, timeout, fallback, hedge,
 * rate-limit, stream, and whichever comes next).
 */
const CAPABILITY = '([^/]+)';
/**
 * The façades over batch()'s engine (ARCHITECTURE: "dataloader/ (a façade over batch)"; the
 * stream sink "on the one engine of batch()"), and the engine files they may drive.
 */
const ENGINE_FACADES = '(dataloader|stream)';
const ENGINE_FILES = '(engine|routing|slots|options)';
const CORE_SRC = '^packages/batchflight/src/';
/** Test files and fixtures, which are not shipped (see the `files` of each package.json). */
const TEST_FILE = '(\\.test\\.ts|\\.test-d\\.ts|/__fixtures__/.*)$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'A cycle ties its files together: none can be read, tested or moved alone. Break it with a ' +
        'leaf module that both sides import (types, constants or a harness), or invert the ' +
        'dependency through a callback.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'capability-internals',
      severity: 'error',
      comment:
        "A capability imports another capability only through that capability's index.ts (its " +
        'public face); what both need belongs in core/.',
      // The engine's façades have the rule below, the same but for the engine.
      from: {
        path: `${CORE_SRC}${CAPABILITY}/`,
        pathNot: [`${CORE_SRC}core/`, `${CORE_SRC}${ENGINE_FACADES}/`],
      },
      to: {
        path: `${CORE_SRC}[^/]+/`,
        pathNot: [`${CORE_SRC}$1/`, `${CORE_SRC}core/`, `${CORE_SRC}[^/]+/index\\.ts$`],
      },
    },
    {
      // The one door besides the indexes, kept narrow on purpose: DataLoader (issue 11 item 1)
      // and the stream sink are by design façades over batch()'s engine, so they drive the
      // engine, its call protocol, its slots and its configuration, none of which is public API.
      // Anything else they need from batch/ goes through batch/index.ts.
      name: 'engine-facades-engine-only',
      severity: 'error',
      comment:
        'dataloader/ and stream/ reach into batch/ only for the engine they are façades over ' +
        '(engine.ts, routing.ts, slots.ts, options.ts); everything else through an index.ts.',
      from: { path: `${CORE_SRC}${ENGINE_FACADES}/` },
      to: {
        path: `${CORE_SRC}[^/]+/`,
        pathNot: [
          `${CORE_SRC}$1/`,
          `${CORE_SRC}core/`,
          `${CORE_SRC}[^/]+/index\\.ts$`,
          `${CORE_SRC}batch/${ENGINE_FILES}\\.ts$`,
        ],
      },
    },
    {
      name: 'capability-via-root',
      severity: 'error',
      comment:
        "A capability does not import the package's root index.ts (which re-exports every " +
        "capability, itself included); import core/ or the other capability's index.ts.",
      from: { path: `${CORE_SRC}[^/]+/` },
      to: { path: `${CORE_SRC}index\\.ts$` },
    },
    {
      name: 'core-imports-no-capability',
      severity: 'error',
      comment: 'core/ is the shared vocabulary of every capability and imports none of them.',
      from: { path: `${CORE_SRC}core/` },
      to: { path: CORE_SRC, pathNot: `${CORE_SRC}core/` },
    },
    {
      name: 'adapter-through-package-exports',
      severity: 'error',
      comment:
        'An adapter package (its tests too) imports batchflight by its name and package exports ' +
        "(e.g. 'batchflight/cache'), never by a relative path into its sources: the published " +
        'package has only what its exports list, and a relative path skips that contract.',
      from: { path: '^packages/([^/]+)/', pathNot: '^packages/batchflight/' },
      to: { dependencyTypes: ['local'], path: CORE_SRC },
    },
    {
      // Tests may share another adapter's test fixtures (e.g. the Redis availability check of
      // packages/redis/src/__fixtures__): those are never shipped, and moving them into the test
      // kit would make it depend on the drivers.
      name: 'shipped-code-through-package-exports',
      severity: 'error',
      comment:
        'Shipped code of a workspace package imports another workspace package by its name and ' +
        'package exports, never by a relative path into its sources.',
      from: { path: '^packages/([^/]+)/', pathNot: TEST_FILE },
      to: { dependencyTypes: ['local'], path: '^packages/[^/]+/', pathNot: '^packages/$1/' },
    },
  ],
  options: {
    // The files whose graph is checked; everything they import outside it is a leaf.
    includeOnly: '^(packages/[^/]+/src|examples|bench|scripts)/',
    exclude: { path: '(^|/)(node_modules|dist)/' },
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: see the header.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.typecheck.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      // The workspace packages' sources, as vitest resolves them (vitest.config.ts).
      conditionNames: ['@batchflight/source', 'import', 'require', 'node', 'default'],
      mainFields: ['module', 'main', 'types', 'typings'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.d.ts'],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
