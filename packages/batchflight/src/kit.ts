/**
 * `batchflight/kit`: the building blocks the adapter packages
 * (`@batchflight/postgres`, `sqlite`, `redis`, `gateway`, `otel`, `config`,
 * `import`, `cli`) share with the core: option validation that echoes the
 * value and states the contract, a deadline list, forced close at a deadline,
 * listener sets, the cache, rate-limit and flight store helpers, and the job store
 * kit (normalization, fingerprints, partitions, the job and run state
 * machines). Not part of the user-facing API: application code imports from
 * `batchflight` or a capability subpath, and these names may change with the
 * stores that use them.
 */
export * from './core/kit.js';
export { getManyOf, isPromiseLike } from './cache/store.js';
export { gcra, GCRA_TOLERANCE_MS } from './rate-limit/store.js';
export { FlightWatchers, type FlightListener } from './singleflight/flight-watchers.js';
export * from './jobs/store-kit.js';
export * from './jobs/store-json.js';
export * from './jobs/transitions.js';
