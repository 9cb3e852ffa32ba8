/**
 * `@batchflight/testing`: deterministic time, a manual batch scheduler, a
 * fake upstream, promise helpers and SIGKILL chaos for worker processes.
 *
 * This entry loads no test runner, so a demo or a tool may use it at run
 * time. The conformance suites every store implementation must pass (they
 * import vitest and fast-check) live behind `@batchflight/testing/conformance`.
 */
export { TestClock, flushMicrotasks } from './test-clock.js';
export {
  FakeUpstream,
  type FakeUpstreamOptions,
  type FakeUpstreamStats,
  UpstreamError,
} from './fake-upstream.js';
export { ManualScheduler } from './manual-scheduler.js';
export { deferred, outcome, rejection, type Deferred, type Outcome } from './deferred.js';
export {
  killLoop,
  bundleWorkerScript,
  SOURCE_NODE_ARGS,
  type KillLoopOptions,
  type KillLoopReport,
} from './fault/kill-loop.js';
