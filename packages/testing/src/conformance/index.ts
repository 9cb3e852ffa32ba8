/**
 * `@batchflight/testing/conformance`: the suites every store implementation
 * must pass, one per contract. They register vitest tests (and use
 * fast-check for properties), so this subpath needs `vitest` and
 * `fast-check` installed beside the package; the main entry needs neither.
 */
import { describe } from 'vitest';
import type { FullJobStore } from 'batchflight/jobs';
import type { JobStoreFactory } from './harness.js';
import { jobStoreConformance } from './job-store.js';
import { runStoreConformance } from './run-store.js';
import { stepStoreConformance } from './step-store.js';

export { cacheStoreConformance, type CacheStoreHarness } from './cache-store.js';
export { cacheStoreGetManyConformance } from './cache-store-get-many.js';
export { rateLimitStoreConformance, type RateLimitStoreHarness } from './rate-limit-store.js';
export {
  flightStoreConformance,
  type FlightStoreHarness,
  type FlightStoreConformanceOptions,
} from './flight-store.js';
export { jobStoreConformance, runStoreConformance, stepStoreConformance };
export {
  releasedMigrationsConformance,
  migrationHash,
  type ShippedMigration,
} from './migrations.js';
export type {
  JobStoreFactory,
  JobStoreFactoryOptions,
  JobStoreHarness,
  OpenableStore,
} from './harness.js';

/**
 * Registers the `JobStore`, `StepStore` and `RunStore` suites for a store
 * that implements all three (`FullJobStore`: the memory, SQLite and
 * PostgreSQL stores), each test on a fresh store from `factory`.
 *
 * @example
 * ```ts
 * fullJobStoreConformance('memory', async (clock, options) => new MemoryJobStore({ clock, ...options }));
 * ```
 */
export function fullJobStoreConformance(
  name: string,
  factory: JobStoreFactory<FullJobStore>,
): void {
  describe(`job store contracts: ${name}`, () => {
    jobStoreConformance(name, factory);
    stepStoreConformance(name, factory);
    runStoreConformance(name, factory);
  });
}
