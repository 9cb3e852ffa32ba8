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
