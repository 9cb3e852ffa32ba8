/**
 * The public types of `batch()`: its options, the context a bulk `load`
 * receives, the events and counters it reports, and the {@link Batcher} it
 * returns.
 */
import type { CallContext, CallOptions, Handler, Subscription, Clock } from '../core/index.js';
import type { Backoff } from '../core/backoff.js';
import type { BatchScheduler } from './scheduler.js';

/** What `load` may return: values (or Errors) in key order, a Map, or a record. */
export type BatchLoadResult<K, V> =
  readonly (V | Error)[] | ReadonlyMap<K, V | Error> | Readonly<Record<string, V | Error>>;

/** The context a bulk `load` receives. */
export interface BatchLoadContext extends CallContext {
  /**
   * Aborts when every caller of this batch has left (or on a forced close).
   * Created on first read, so a load that ignores it costs nothing.
   */
  readonly signal: AbortSignal;
  /** The scope every key of this batch belongs to. */
  readonly scope: string | undefined;
  /** 1 for the first call, 2 for the first retry of failed items, … */
  readonly attempt: number;
}

/** Options of `retry` in {@link BatchOptions}. */
export interface BatchRetryOptions {
  /** Total attempts per item, the first included (>= 1). */
  readonly maxAttempts: number;
  /**
   * Wait before each retry: a Backoff, a function `(attempt, previousDelayMs) => ms`,
   * or a constant number of milliseconds. Default: exponential with full jitter from 100 ms.
   */
  readonly backoff?: Backoff | ((attempt: number, previousDelayMs: number) => number) | number;
  /** Which errors are worth retrying. Default: all but `NotFoundError` and `BatchContractError`. */
  readonly retryOn?: (error: unknown) => boolean;
}

/** Options of {@link batch}. */
export interface BatchOptions<K, V> {
  /**
   * The bulk function: gets the distinct keys of one batch (all of one scope)
   * and returns their values as an array in key order, a Map, a record keyed
   * by `String(key)`, or (with `resultKey`) an array of items in any order.
   * An `Error` in a slot fails that key alone; a throw fails the batch.
   */
  readonly load: (
    keys: K[],
    ctx: BatchLoadContext,
  ) => BatchLoadResult<K, V> | PromiseLike<BatchLoadResult<K, V>>;
  /** Name used in error messages and events. Default `'batch'`. */
  readonly name?: string;
  /** `'static'` (default) or `'adaptive'` (see the module comment). */
  readonly window?: 'static' | 'adaptive';
  /** Most keys per bulk call. Default: unbounded (static), 1000 (adaptive, the cap of L). */
  readonly maxSize?: number;
  /**
   * Static: how long a window stays open, in milliseconds; 0 (the default)
   * closes it at the end of the tick. Adaptive: the longest a key is held
   * while the upstream is busy; default `latencyTargetMs / 4`.
   */
  readonly maxWaitMs?: number;
  /** Adaptive only: the latency a key should see, wait included, in milliseconds. Default 100. */
  readonly latencyTargetMs?: number;
  /** Closes end-of-tick windows. Default {@link endOfTick}. */
  readonly scheduler?: BatchScheduler;
  /** Time source for windows, retries and latency. Default: the system clock. */
  readonly clock?: Clock;
  /**
   * Key identity for dedupe. Default: primitives by value; objects by
   * `stableKey` (structural, order-independent), so `{ id: 1 }` twice is one key.
   */
  readonly key?: (key: K) => unknown;
  /** Routes the items of an array result to keys, in any order; missing items follow `onMissing`. */
  readonly resultKey?: (item: V) => K;
  /** What a key absent from a Map, record or routed result resolves to. Default `'undefined'`. */
  readonly onMissing?: 'undefined' | 'null' | 'error';
  /** Retry only the items that failed. Default: no retry. */
  readonly retry?: BatchRetryOptions;
  /**
   * On a whole-batch failure, load each half separately (one after the other,
   * recursively) so one poisoned key fails alone. Default false.
   */
  readonly splitOnFailure?: boolean;
  /** Bulk calls in flight at once; closed batches wait in FIFO order. Default: unbounded. */
  readonly maxConcurrentBatches?: number;
  /** Distinct keys not yet settled (waiting, queued or in flight). Default: unbounded. */
  readonly maxPending?: number;
  /** Beyond `maxPending`: wait for room (abortable) or reject with `BackpressureError`. Default `'wait'`. */
  readonly whenFull?: 'wait' | 'reject';
  /** Include the keys in events and hook payloads. Default false (keys may be personal data). */
  readonly eventKeys?: boolean;
}

/** Per-call options of {@link Batcher.load}. */
export type BatchCallOptions = CallOptions;

/** Payload of `onDispatch` and the `batchflight:batch:dispatch` channel. */
export interface BatchDispatchEvent {
  readonly name: string;
  readonly scope: string | undefined;
  /** Keys in this bulk call. */
  readonly size: number;
  /** 1 for the first call of a batch, more for retries. */
  readonly attempt: number;
  /** How long the oldest key waited before the call, in milliseconds. */
  readonly waitMs: number;
  /** Present only with `eventKeys: true`. */
  readonly keys?: readonly unknown[];
}

/** Payload of `onBatch` and the `batchflight:batch:settled` channel. */
export interface BatchSettledEvent extends BatchDispatchEvent {
  /** Duration of the bulk call, in milliseconds. */
  readonly durationMs: number;
  /** `'ok'` every key got a value, `'partial'` some got errors, `'error'` the call failed. */
  readonly outcome: 'ok' | 'partial' | 'error';
}

/** Counters of a {@link Batcher}. */
export interface BatchStats {
  /** `load()` calls. */
  loads: number;
  /** Bulk calls made (retries and split halves included). */
  batches: number;
  /** Keys sent across all bulk calls. */
  items: number;
  /** items / batches. */
  meanBatchSize: number;
  maxBatchSize: number;
  /** loads − batches: calls the upstream did not see. */
  callsSaved: number;
  /** Callers that joined a key not yet sent (in its window or a queued batch). */
  dedupedInWindow: number;
  /** Callers that joined a key already in flight. */
  joinedInFlight: number;
  /** Items sent again by `retry`. */
  retries: number;
  /** Failed callers by kind. */
  errors: {
    item: number;
    batch: number;
    contract: number;
    notFound: number;
    backpressure: number;
    aborted: number;
    closed: number;
  };
  /** Keys waiting in windows or queued batches. */
  queueDepth: number;
  inFlightBatches: number;
  queuedBatches: number;
  /** Distinct keys not yet settled. */
  pending: number;
  /** Current size limit: L of the adaptive window, or `maxSize`. */
  sizeLimit: number;
  /** Current limit on calls in flight: C of the adaptive window, or `maxConcurrentBatches`. */
  concurrencyLimit: number;
}

/** The object {@link batch} returns. */
export interface Batcher<K, V> extends AsyncDisposable {
  /** The value of one key, from the next bulk call (or one already in flight). */
  load(key: K, options?: BatchCallOptions): Promise<V>;
  /** Loads several keys; each entry is a value or the Error of that key (DataLoader semantics). */
  loadMany(keys: readonly K[], options?: BatchCallOptions): Promise<(V | Error)[]>;
  /** `load` as a {@link Handler}: honours `ctx.signal`, `ctx.scope` and `ctx.urgent`. */
  readonly handler: Handler<K, V>;
  /**
   * Resolves when fewer than `maxPending` keys are pending (at once without a
   * limit); rejects with `ClosedError` once `close()` was called (waiting callers too).
   */
  ready(): Promise<void>;
  /** Sends every open window now (still within `maxConcurrentBatches`). */
  flush(): void;
  stats(): BatchStats;
  /** Called when a bulk call leaves. */
  onDispatch(listener: (event: BatchDispatchEvent) => void): Subscription;
  /** Called when a bulk call settles. */
  onBatch(listener: (event: BatchSettledEvent) => void): Subscription;
  /**
   * Stops accepting loads (they reject with `ClosedError`), sends what is
   * waiting and resolves when every pending key has settled. Idempotent.
   * If `signal` aborts (or already has), the close is forced: every pending
   * caller rejects with a `ClosedError` and in-flight loads are aborted.
   */
  close(options?: { readonly signal?: AbortSignal }): Promise<void>;
}
