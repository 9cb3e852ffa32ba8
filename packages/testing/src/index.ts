/**
 * `@batchflight/testing`: deterministic time, a fake upstream, and the
 * conformance suites every store implementation must pass.
 */
export { TestClock, flushMicrotasks } from './test-clock.js';
export {
  FakeUpstream,
  type FakeUpstreamOptions,
  type FakeUpstreamStats,
  UpstreamError,
} from './fake-upstream.js';
export { cacheStoreConformance, type CacheStoreHarness } from './conformance/cache-store.js';
export {
  rateLimitStoreConformance,
  type RateLimitStoreHarness,
} from './conformance/rate-limit-store.js';
export {
  jobStoreConformance,
  type JobStoreFactory,
  type JobStoreFactoryOptions,
  type JobStoreHarness,
} from './conformance/job-store.js';
export { ManualScheduler } from './manual-scheduler.js';
export {
  killLoop,
  bundleWorkerScript,
  SOURCE_NODE_ARGS,
  type KillLoopOptions,
  type KillLoopReport,
} from './fault/kill-loop.js';
export { flightStoreConformance, type FlightStoreHarness } from './conformance/flight-store.js';
