/**
 * What every store conformance suite shares (a leaf: it imports no other
 * suite module): the factory and harness types a store's test hands in, and
 * the per-test set-up that gives each test a fresh, initialised store on a
 * fresh `TestClock`, closing it and every extra handle afterwards.
 */
import { afterEach, beforeEach } from 'vitest';
import type {
  AcceptedCheckpoint,
  ClaimOptions,
  EnqueueResult,
  EnqueueSpec,
  JobRecord,
  JobStore,
} from 'batchflight/jobs';
import { TestClock } from '../test-clock.js';

/** What each store contract has: `init()` before use, `close()` after. */
export interface OpenableStore {
  init(): Promise<void>;
  close(): Promise<void>;
}

/** What a factory returns: a fresh, empty store, and optionally more handles on the same data. */
export interface JobStoreHarness<S extends OpenableStore = OpenableStore> {
  readonly store: S;
  /**
   * Opens another handle (connection, or process-like client) on the same
   * data with the same clock; the suite closes it. Omit for in-process stores.
   */
  readonly open?: () => Promise<S>;
  /** Removes what the store created (schema, file). Runs after `store.close()`. */
  readonly cleanup?: () => Promise<void>;
}

/** Store options a test asks the factory for. */
export interface JobStoreFactoryOptions {
  /** Construct the store with `attemptPayloads: true`. */
  readonly attemptPayloads?: boolean;
  /** Construct the store with a transactional `onCheckpoint` hook that calls this one. */
  readonly onCheckpoint?: (checkpoint: AcceptedCheckpoint) => void;
}

/**
 * Creates a fresh, empty store whose every timestamp comes from `clock`,
 * constructed with `options` (store options a test needs). The suite calls
 * `init()` itself.
 */
export type JobStoreFactory<S extends OpenableStore = OpenableStore> = (
  clock: TestClock,
  options?: JobStoreFactoryOptions,
) => Promise<JobStoreHarness<S> | S>;

/** The lease every suite claims with, ms. */
export const SUITE_LEASE_MS = 10_000;

/** The test in progress, as the parts of a suite see it. */
export interface SuiteContext<S extends OpenableStore> {
  /** The test's clock (read it inside a test, not at registration). */
  readonly clock: TestClock;
  /** The test's store, initialised and empty at the start of the test. */
  readonly store: S;
  /** The lease the suite claims with, ms. */
  readonly lease: number;
  /**
   * Another handle on the test's data (from the harness's `open`, closed by
   * the suite), or the test's store itself for an in-process store.
   */
  other(): Promise<S>;
  /**
   * Another store from the factory, on the test's clock, initialised: the
   * caller closes it and runs its `cleanup`.
   */
  open(options?: JobStoreFactoryOptions): Promise<JobStoreHarness<S>>;
}

/** The test in progress of a suite whose store is a `JobStore`: claims and enqueues in one call. */
export interface JobSuiteContext<S extends JobStore & OpenableStore> extends SuiteContext<S> {
  /** Claims as worker `w1` with the suite's lease. */
  claim(limit?: number, more?: Partial<ClaimOptions>): Promise<JobRecord[]>;
  /** Enqueues one job named `task`. */
  add(payload: unknown, more?: Partial<EnqueueSpec>): Promise<EnqueueResult>;
}

const harnessOf = <S extends OpenableStore>(made: JobStoreHarness<S> | S): JobStoreHarness<S> =>
  'store' in made ? made : { store: made };

/**
 * Registers (in the `describe` it is called in) the `beforeEach`/`afterEach`
 * that give every test a fresh store from `factory`, and returns the context
 * the tests read it through.
 */
export function storeSuiteContext<S extends OpenableStore>(
  factory: JobStoreFactory<S>,
): SuiteContext<S> {
  let clock: TestClock | undefined;
  let harness: JobStoreHarness<S> | undefined;
  const extra: S[] = [];
  const currentClock = (): TestClock => {
    if (clock === undefined) throw new Error('the clock is read outside a test');
    return clock;
  };
  const current = (): JobStoreHarness<S> => {
    if (harness === undefined) throw new Error('the store is read outside a test');
    return harness;
  };

  beforeEach(async () => {
    clock = new TestClock();
    harness = harnessOf(await factory(clock));
    await harness.store.init();
  });

  afterEach(async () => {
    for (const s of extra.splice(0)) await s.close();
    const ended = current();
    await ended.store.close();
    await ended.cleanup?.();
  });

  return {
    get clock() {
      return currentClock();
    },
    get store() {
      return current().store;
    },
    lease: SUITE_LEASE_MS,
    other: async () => {
      const { store, open } = current();
      if (open === undefined) return store;
      const handle = await open();
      extra.push(handle);
      return handle;
    },
    open: async (options) => {
      const opened = harnessOf(await factory(currentClock(), options));
      await opened.store.init();
      return opened;
    },
  };
}

/** {@link storeSuiteContext} with the `claim` and `add` shortcuts of a `JobStore` suite. */
export function jobSuiteContext<S extends JobStore & OpenableStore>(
  factory: JobStoreFactory<S>,
): JobSuiteContext<S> {
  const t = storeSuiteContext(factory);
  return Object.assign(t, {
    claim: (limit = 10, more: Partial<ClaimOptions> = {}) =>
      t.store.claim({ workerId: 'w1', limit, leaseMs: SUITE_LEASE_MS, ...more }),
    add: async (payload: unknown, more: Partial<EnqueueSpec> = {}) => {
      const [r] = await t.store.enqueue([{ name: 'task', payload, ...more }]);
      if (r === undefined) throw new Error('enqueue returned no result');
      return r;
    },
  });
}

/** Rejects when `promise` has not settled within `ms` of real time: bounds a hang, times nothing. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`${what} did not settle within ${String(ms)} ms`));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => {
    clearTimeout(timer);
  });
}
