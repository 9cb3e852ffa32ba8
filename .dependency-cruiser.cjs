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

/** The capability folders of `packages/batchflight/src`. */
const CAPABILITIES = [
  'batch',
  'cache',
  'singleflight',
  'dataloader',
  'jobs',
  'retry',
  'circuit-breaker',
  'bulkhead',
  'timeout',
  'fallback',
  'hedge',
  'rate-limit',
];
const CAPABILITY = `(${CAPABILITIES.join('|')})`;
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
      // dataloader/ has the rule below, the same but for the engine it is a façade over.
      from: { path: `${CORE_SRC}${CAPABILITY}/`, pathNot: `${CORE_SRC}dataloader/` },
      to: {
        path: `${CORE_SRC}${CAPABILITY}/`,
        pathNot: [`${CORE_SRC}$1/`, `${CORE_SRC}${CAPABILITY}/index\\.ts$`],
      },
    },
    {
      // The one door besides the indexes, kept narrow on purpose: DataLoader is by design a
      // façade over batch()'s engine (issue 11 item 1; ARCHITECTURE: "dataloader/ (a façade over
      // batch)"), so it drives the engine, its call protocol and its slots, none of which is
      // public API. Anything else it needs from batch/ goes through batch/index.ts.
      name: 'dataloader-engine-only',
      severity: 'error',
      comment:
        'dataloader/ reaches into batch/ only for the engine it is a façade over (engine.ts, ' +
        'routing.ts, slots.ts); everything else through batch/index.ts.',
      from: { path: `${CORE_SRC}dataloader/` },
      to: {
        path: `${CORE_SRC}${CAPABILITY}/`,
        pathNot: [
          `${CORE_SRC}dataloader/`,
          `${CORE_SRC}${CAPABILITY}/index\\.ts$`,
          `${CORE_SRC}batch/(engine|routing|slots)\\.ts$`,
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
