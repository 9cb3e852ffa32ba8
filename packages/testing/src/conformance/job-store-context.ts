/**
 * What the parts of the `JobStore` conformance suite share: the store and
 * clock of the test in progress (fresh for every test) and small helpers.
 */
import type { EnqueueResult, EnqueueSpec, JobRecord, JobStore } from 'batchflight/jobs';
import type { TestClock } from '../test-clock.js';
import type { JobStoreFactoryOptions, JobStoreHarness } from './job-store.js';

/** The test in progress, as the parts of the suite see it. */
export interface SuiteContext {
  /** The test's clock (read it inside a test, not at registration). */
  readonly clock: TestClock;
  /** The test's store, initialised and empty at the start of the test. */
  readonly store: JobStore;
  /** The lease of {@link SuiteContext.claim}, ms. */
  readonly lease: number;
  /** Claims as worker `w1` with the suite's lease. */
  claim(limit?: number, more?: Partial<Parameters<JobStore['claim']>[0]>): Promise<JobRecord[]>;
  /** Enqueues one job named `task`. */
  add(payload: unknown, more?: Partial<EnqueueSpec>): Promise<EnqueueResult>;
  /**
   * Another store from the factory, on the test's clock, initialised: the
   * caller closes it and runs its `cleanup`.
   */
  open(options?: JobStoreFactoryOptions): Promise<JobStoreHarness>;
}
