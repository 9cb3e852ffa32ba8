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
 *   or through an internal entry (`internal.ts`) the capability declares for named importers
 *   (see INTERNAL_ENTRIES); `core/` imports no capability, and the adapter packages import
 *   `batchflight` by its package exports (`batchflight`, `batchflight/cache`, …), never by a path
 *   into its sources.
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
 * The internal entries: a capability's `internal.ts`, the second door beside its `index.ts`,
 * for the capabilities named here and no other. Not public API (no package export points at
 * one). Today one: batch/internal.ts, the engine of batch() that its façades drive
 * (ARCHITECTURE: "dataloader/ (a façade over batch)"; the stream sink "on the one engine of
 * batch()"). A façade needs nothing else from batch/ but its index.ts.
 *
 * @type {Readonly<Record<string, readonly string[]>>}
 */
const INTERNAL_ENTRIES = { batch: ['dataloader', 'stream'] };
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
        'public face) or its declared internal.ts (see INTERNAL_ENTRIES); what both need belongs ' +
        'in core/.',
      from: { path: `${CORE_SRC}${CAPABILITY}/`, pathNot: `${CORE_SRC}core/` },
      to: {
        path: `${CORE_SRC}[^/]+/`,
        pathNot: [
          `${CORE_SRC}$1/`,
          `${CORE_SRC}core/`,
          `${CORE_SRC}[^/]+/index\\.ts$`,
          // The declared internal entries; who may use each is the rule below.
          `${CORE_SRC}(${Object.keys(INTERNAL_ENTRIES).join('|')})/internal\\.ts$`,
        ],
      },
    },
    // One rule per internal entry: only the importers it names may use it.
    ...Object.entries(INTERNAL_ENTRIES).map(([capability, importers]) => ({
      name: `internal-entry-declared-importers-${capability}`,
      severity: /** @type {const} */ ('error'),
      comment:
        `${capability}/internal.ts is the internal entry of ${capability} for ` +
        `${importers.join(' and ')} only (INTERNAL_ENTRIES in .dependency-cruiser.cjs); any other ` +
        `capability imports ${capability}/index.ts.`,
      from: {
        path: `${CORE_SRC}[^/]+/`,
        pathNot: [`${CORE_SRC}${capability}/`, `${CORE_SRC}(${importers.join('|')})/`],
      },
      to: { path: `${CORE_SRC}${capability}/internal\\.ts$` },
    })),
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
