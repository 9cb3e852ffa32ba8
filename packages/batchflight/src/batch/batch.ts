/**
 * `batch()`: many small per-key calls become one bulk call, and each caller
 * gets its own result or error back.
 *
 * Life of a key. `load(key)` finds or creates the key's *slot* in the index
 * of its scope. A slot lives from the first caller until it settles, through
 * three stages: open (in the scope's window), closed (in a batch waiting for
 * a concurrency slot) and sent (in flight). A second caller of the same key
 * at any stage joins the slot instead of sending the key again, so a key is
 * never in two unsettled bulk calls of one scope. Callers without a signal
 * share the slot's promise; a caller with a signal gets its own, so that it
 * can leave alone when its signal aborts. A slot nobody waits for any more is
 * dropped before its batch is sent; a sent batch whose callers have all left
 * has its `ctx.signal` aborted.
 *
 * Windows. In the static mode a window closes when it holds `maxSize` keys
 * (at once, synchronously), when `maxWaitMs` passes (a Clock timer), or at
 * the end of the tick (the scheduler, by default DataLoader's: see
 * `scheduler.ts`). A closed window is a batch; it is sent when fewer than
 * `maxConcurrentBatches` batches are in flight, else it waits in FIFO order.
 *
 * The adaptive window (`window: 'adaptive'`) combines three ideas:
 *
 * 1. Nagle. At the end of the tick, if no batch is in flight, the window is
 *    sent at once: an idle upstream never waits for a timer.
 * 2. Batches grow while the upstream is busy. While batches are in flight the
 *    window holds its keys; it is sent when a batch completes (the upstream
 *    has room again, like TCP's ACK clocking) or when it reaches the size
 *    limit L, in both cases only while fewer than C calls are in flight; when
 *    its oldest key has waited `maxWaitMs` (default a quarter of the latency
 *    target) it may grow C by one to leave (a safety net for a hung call).
 *    So the batch size follows the arrival rate times the upstream latency
 *    divided by C: small when load is light, large under pressure.
 * 3. Two limits, each on its own signal (`adaptive.ts`): C, the calls in
 *    flight, starts at 1, grows while it is what holds keys back and the
 *    upstream shows no queueing, and shrinks when a call shows queueing
 *    (its duration well above a service-time model `a + b·size` fitted on
 *    the fastest calls seen); L follows AIMD against half the target
 *    (Clipper, NSDI 2017), but a queued call or a backlog of L keys never
 *    shrinks it, nor below what the arrival rate needs. Without C, the first
 *    milliseconds under load queued many small calls at the upstream, that
 *    queueing read as slowness, L halved, calls got smaller and more
 *    numerous, and the window collapsed to L = 1.
 */
import {
  ClosedError,
  Listeners,
  NEVER_ABORTED,
  booleanOption,
  describe,
  eventChannel,
  functionOption,
  integerOption,
  knownOptions,
  numberOption,
  oneOfOption,
  sleep,
  stableKey,
  systemClock,
  type CallContext,
  type CallOptions,
  type Clock,
  type Handler,
  type Subscription,
  type Timer,
} from '../core/index.js';
import { exponentialBackoff, toBackoff, type Backoff } from '../retry/backoff.js';
import { AdaptiveControl } from './adaptive.js';
import { BackpressureError, BatchContractError, NotFoundError } from './errors.js';
import { endOfTick, type BatchScheduler } from './scheduler.js';

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

const dispatchChannel = eventChannel<BatchDispatchEvent>('batch', 'dispatch');
const settledChannel = eventChannel<BatchSettledEvent>('batch', 'settled');

const OPEN = 0;
const SENT = 2;
const DONE = 3;

type Settle = (value: unknown) => void;

// A shared executor captures resolve/reject without allocating a closure per promise.
let capturedResolve: Settle = () => undefined;
let capturedReject: Settle = () => undefined;
function capture(resolve: Settle, reject: Settle): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/** One distinct key of one scope, from its first caller until it settles. */
class Slot<K> {
  state = OPEN;
  /** Callers still waiting (shared-promise callers never leave). */
  waiters = 0;
  promise: Promise<unknown> | undefined = undefined;
  resolve: Settle | undefined = undefined;
  reject: Settle | undefined = undefined;
  followers: Follower<K>[] | undefined = undefined;
  batch: Batch<K> | undefined = undefined;
  /** False once a newer slot took its place in the index. */
  indexed = true;
  /** Adaptive: when the key entered its window (the hold timer of what stays after a partial send). */
  at = 0;
  constructor(
    readonly key: K,
    readonly id: unknown,
    readonly index: Map<unknown, Slot<K>>,
  ) {}
}

/** A caller with an AbortSignal: its own promise, so it can leave alone. */
class Follower<K> {
  resolve: Settle;
  reject: Settle;
  readonly promise: Promise<unknown>;
  constructor(
    readonly slot: Slot<K>,
    readonly signal: AbortSignal,
    readonly owner: BatcherImpl<K, unknown>,
  ) {
    this.promise = new Promise(capture);
    this.resolve = capturedResolve;
    this.reject = capturedReject;
  }
  handleEvent(): void {
    this.owner.leave(this);
  }
}

/** An open window of one scope. */
interface Window<K> {
  readonly scope: string | undefined;
  slots: Slot<K>[];
  openedAt: number;
  /** Bumped whenever the window empties, so stale timer callbacks do nothing. */
  generation: number;
  /** Scheduler callbacks not yet run; only the last one acts (the earlier ones are stale). */
  fires: number;
  /** The scheduler callback, one per window for its lifetime (no closure per batch). */
  readonly fire: () => void;
  armed: boolean;
  timer: Timer | undefined;
  /** Adaptive: the end of the first tick has passed. */
  ticked: boolean;
  /** Adaptive: send at the next chance, past the concurrency limit (urgent, flush). */
  due: boolean;
  /** Adaptive: the hold timer fired; send as soon as the concurrency limit allows. */
  expired: boolean;
}

/** Keys sent (or to be sent) together; retries and split halves stay in it. */
class Batch<K> {
  /** Slots whose callers have not all left. */
  live = 0;
  /** Bulk calls of this batch not yet settled. */
  outstanding = 0;
  controller: AbortController | undefined = undefined;
  abortReason: unknown = undefined;
  aborted = false;
  /** Adaptive: the window held at least the size limit (the queue asked for more). */
  binding = false;
  lastDelayMs = 0;
  /** Settled (or abandoned by a forced close): no longer counts as in flight. */
  done = false;
  constructor(
    public slots: Slot<K>[],
    readonly scope: string | undefined,
    readonly openedAt: number,
  ) {}
  signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }
}

/** One bulk call of a batch; it is also the context `load` receives. */
class Call<K> implements BatchLoadContext {
  /** Slots to retry after this call (per-item failures). */
  retry: Slot<K>[] | undefined = undefined;
  partial = false;
  constructor(
    readonly batch: Batch<K>,
    readonly slots: Slot<K>[],
    readonly attempt: number,
    readonly startedAt: number,
    public onDone: (() => void) | undefined,
    /** Batches in flight when this call left, its own included. */
    readonly inFlightAtStart: number,
  ) {}
  get signal(): AbortSignal {
    return this.batch.signal();
  }
  get scope(): string | undefined {
    return this.batch.scope;
  }
}

interface RoomWaiter {
  resolve: () => void;
  reject: (error: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

const KNOWN = [
  'load',
  'name',
  'window',
  'maxSize',
  'maxWaitMs',
  'latencyTargetMs',
  'scheduler',
  'clock',
  'key',
  'resultKey',
  'onMissing',
  'retry',
  'splitOnFailure',
  'maxConcurrentBatches',
  'maxPending',
  'whenFull',
  'eventKeys',
] as const;

function defaultIdentity(key: unknown): unknown {
  // Objects are keyed structurally; the NUL prefix keeps them apart from ordinary string keys.
  return typeof key === 'object' && key !== null ? `\u0000${stableKey(key)}` : key;
}

function defaultRetryOn(error: unknown): boolean {
  return !NotFoundError.is(error) && !BatchContractError.is(error);
}

class BatcherImpl<K, V> implements Batcher<K, V> {
  readonly #where: string;
  readonly #name: string;
  readonly #load: BatchOptions<K, V>['load'];
  readonly #adaptive: boolean;
  readonly #maxSize: number;
  readonly #maxWaitMs: number;
  readonly #budgetMs: number;
  readonly #scheduler: BatchScheduler;
  readonly #clock: Clock;
  readonly #identity: ((key: K) => unknown) | undefined;
  readonly #resultKey: ((item: V) => K) | undefined;
  readonly #onMissing: 'undefined' | 'null' | 'error';
  readonly #maxAttempts: number;
  readonly #backoff: Backoff | undefined;
  readonly #retryOn: (error: unknown) => boolean;
  readonly #split: boolean;
  readonly #maxConcurrent: number;
  readonly #maxPending: number;
  readonly #reject: boolean;
  readonly #eventKeys: boolean;
  /** Time is needed for the window itself (timed or adaptive); else only when observed. */
  readonly #timed: boolean;

  /**
   * Replaced (not emptied) when its last slot settles: deleting a Map's last
   * entry makes V8 shrink its table through a runtime call, dearer than a new Map.
   */
  #defaultIndex = new Map<unknown, Slot<K>>();
  readonly #indexes = new Map<string, Map<unknown, Slot<K>>>();
  readonly #defaultWindow: Window<K>;
  readonly #windows = new Map<string, Window<K>>();
  readonly #queue: Batch<K>[] = [];
  /** Batches in flight (sent, not yet settled). */
  #active = 0;
  readonly #roomWaiters: RoomWaiter[] = [];
  #readyWaiters: { resolve: () => void; reject: (error: unknown) => void }[] = [];
  readonly #dispatchListeners = new Listeners<BatchDispatchEvent>();
  readonly #batchListeners = new Listeners<BatchSettledEvent>();

  #limit: number;
  /** Adaptive only: the size and concurrency limits and what they learn from. */
  readonly #control: AdaptiveControl | undefined;
  #pending = 0;
  #queued = 0;
  #closed = false;
  #closing: Promise<void> | undefined;
  #drained: (() => void) | undefined;
  #forcedError: ClosedError | undefined;

  readonly #stats: BatchStats = {
    loads: 0,
    batches: 0,
    items: 0,
    meanBatchSize: 0,
    maxBatchSize: 0,
    callsSaved: 0,
    dedupedInWindow: 0,
    joinedInFlight: 0,
    retries: 0,
    errors: {
      item: 0,
      batch: 0,
      contract: 0,
      notFound: 0,
      backpressure: 0,
      aborted: 0,
      closed: 0,
    },
    queueDepth: 0,
    inFlightBatches: 0,
    queuedBatches: 0,
    pending: 0,
    sizeLimit: 0,
    concurrencyLimit: 0,
  };

  readonly handler: Handler<K, V>;

  constructor(options: BatchOptions<K, V>) {
    const where = 'batch()';
    if (typeof options !== 'object' || (options as unknown) === null) {
      throw new TypeError(
        `${where}: expects an options object { load, ... }, got ${describe(options)}.`,
      );
    }
    knownOptions(where, options, KNOWN);
    this.#load = functionOption<BatchOptions<K, V>['load']>(where, 'load', options.load);
    this.#name = options.name ?? 'batch';
    this.#where = `batch(${this.#name})`;
    this.#adaptive =
      oneOfOption(where, 'window', options.window ?? 'static', ['static', 'adaptive']) ===
      'adaptive';
    this.#maxSize = integerOption(
      where,
      'maxSize',
      options.maxSize ?? (this.#adaptive ? 1000 : Infinity),
      { allowInfinity: true },
    );
    const target = numberOption(where, 'latencyTargetMs', options.latencyTargetMs ?? 100, {
      exclusive: true,
    });
    this.#budgetMs = target / 2;
    this.#maxWaitMs = numberOption(
      where,
      'maxWaitMs',
      options.maxWaitMs ?? (this.#adaptive ? target / 4 : 0),
    );
    this.#scheduler = functionOption<BatchScheduler>(
      where,
      'scheduler',
      options.scheduler ?? endOfTick,
    );
    this.#clock = options.clock ?? systemClock;
    if (typeof this.#clock.now !== 'function' || typeof this.#clock.setTimer !== 'function') {
      throw new TypeError(
        `${where}: option clock must be a Clock ({ now(), setTimer(callback, delayMs) }), got ${describe(options.clock)}.`,
      );
    }
    this.#identity =
      options.key === undefined
        ? undefined
        : functionOption<(key: K) => unknown>(where, 'key', options.key);
    this.#resultKey =
      options.resultKey === undefined
        ? undefined
        : functionOption<(item: V) => K>(where, 'resultKey', options.resultKey);
    this.#onMissing = oneOfOption(where, 'onMissing', options.onMissing ?? 'undefined', [
      'undefined',
      'null',
      'error',
    ]);
    const retry = options.retry;
    if (retry === undefined) {
      this.#maxAttempts = 1;
      this.#backoff = undefined;
      this.#retryOn = defaultRetryOn;
    } else {
      if (typeof retry !== 'object' || (retry as unknown) === null) {
        throw new TypeError(
          `${where}: option retry must be an object { maxAttempts, backoff?, retryOn? }, got ${describe(retry)}.`,
        );
      }
      knownOptions(`${where} retry`, retry, ['maxAttempts', 'backoff', 'retryOn']);
      this.#maxAttempts = integerOption(where, 'retry.maxAttempts', retry.maxAttempts);
      this.#backoff = toBackoff(
        where,
        retry.backoff ?? exponentialBackoff({ initialDelayMs: 100, jitter: 'full' }),
      );
      this.#retryOn =
        retry.retryOn === undefined
          ? defaultRetryOn
          : functionOption<(error: unknown) => boolean>(where, 'retry.retryOn', retry.retryOn);
    }
    this.#split = booleanOption(where, 'splitOnFailure', options.splitOnFailure ?? false);
    this.#maxConcurrent = integerOption(
      where,
      'maxConcurrentBatches',
      options.maxConcurrentBatches ?? Infinity,
      { allowInfinity: true },
    );
    this.#maxPending = integerOption(where, 'maxPending', options.maxPending ?? Infinity, {
      allowInfinity: true,
    });
    this.#reject =
      oneOfOption(where, 'whenFull', options.whenFull ?? 'wait', ['wait', 'reject']) === 'reject';
    this.#eventKeys = booleanOption(where, 'eventKeys', options.eventKeys ?? false);
    this.#control = this.#adaptive
      ? new AdaptiveControl(this.#maxSize, this.#maxConcurrent, this.#budgetMs, target)
      : undefined;
    this.#limit = this.#control?.limit ?? this.#maxSize;
    this.#timed = this.#adaptive || this.#maxWaitMs > 0;
    this.#defaultWindow = this.#newWindow(undefined);
    this.handler = (key, ctx) => this.load(key, ctx);
  }

  // ---------------------------------------------------------------- loading

  load(key: K, options?: BatchCallOptions): Promise<V> {
    this.#stats.loads++;
    return this.#start(key, options, false);
  }

  /** `reserved`: the caller already holds one unit of `maxPending` room (it waited for it). */
  #start(key: K, options: BatchCallOptions | undefined, reserved: boolean): Promise<V> {
    let signal: AbortSignal | undefined;
    let scope: string | undefined;
    let urgent = false;
    if (options !== undefined) {
      signal = options.signal === NEVER_ABORTED ? undefined : options.signal;
      scope = options.scope;
      urgent = options.urgent === true;
      if (signal !== undefined && !(signal instanceof AbortSignal)) {
        if (reserved) this.#release();
        return Promise.reject(
          new TypeError(
            `${this.#where}: load() option signal must be an AbortSignal, got ${describe(signal)}.`,
          ),
        );
      }
      if (signal?.aborted) {
        if (reserved) this.#release();
        this.#stats.errors.aborted++;
        return Promise.reject(signal.reason as Error);
      }
    }
    if (this.#closed) {
      if (reserved) this.#release();
      this.#stats.errors.closed++;
      return Promise.reject(new ClosedError(`${this.#where}: load() was called after close().`));
    }
    const index = scope === undefined ? this.#defaultIndex : this.#indexFor(scope);
    const id = this.#identity === undefined ? defaultIdentity(key) : this.#identity(key);
    let slot = index.get(id);
    if (slot !== undefined && !(slot.state === SENT && slot.batch?.aborted === true)) {
      if (reserved) this.#release();
      if (slot.state === OPEN) this.#stats.dedupedInWindow++;
      else this.#stats.joinedInFlight++;
      const promise = this.#join(slot, signal);
      if (urgent) this.#urgent(scope);
      return promise as Promise<V>;
    }
    if (!reserved) {
      if (this.#pending >= this.#maxPending) return this.#whenFull(key, options, signal);
      this.#pending++;
    }
    // A slot of an abandoned batch is replaced: it stays out of the index from now on.
    if (slot !== undefined) slot.indexed = false;
    slot = new Slot(key, id, index);
    index.set(id, slot);
    const promise = this.#join(slot, signal);
    this.#enqueue(slot, scope, urgent);
    return promise as Promise<V>;
  }

  loadMany(keys: readonly K[], options?: BatchCallOptions): Promise<(V | Error)[]> {
    if (!Array.isArray(keys)) {
      throw new TypeError(
        `${this.#where}: loadMany() expects an array of keys, got ${describe(keys)}.`,
      );
    }
    const signal = options?.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      return Promise.reject(
        new TypeError(
          `${this.#where}: loadMany() option signal must be an AbortSignal, got ${describe(signal)}.`,
        ),
      );
    }
    const out: Promise<V | Error>[] = [];
    for (let i = 0; i < keys.length; i++) {
      out.push(this.load(keys[i] as K, options).catch((error: unknown) => toError(error)));
    }
    return Promise.all(out);
  }

  #join(slot: Slot<K>, signal: AbortSignal | undefined): Promise<unknown> {
    if (slot.waiters++ === 0 && slot.state === SENT) {
      const batch = slot.batch;
      if (batch !== undefined) batch.live++;
    }
    if (signal === undefined) {
      if (slot.promise === undefined) {
        slot.promise = new Promise(capture);
        slot.resolve = capturedResolve;
        slot.reject = capturedReject;
      }
      return slot.promise;
    }
    const follower = new Follower(slot, signal, this as BatcherImpl<K, unknown>);
    (slot.followers ??= []).push(follower);
    signal.addEventListener('abort', follower, { once: true });
    return follower.promise;
  }

  /** A follower's signal aborted: it leaves; its key is dropped or its batch aborted when nobody is left. */
  leave(follower: Follower<K>): void {
    const slot = follower.slot;
    const followers = slot.followers;
    if (slot.state === DONE || followers === undefined) return;
    const at = followers.indexOf(follower);
    if (at === -1) return;
    followers.splice(at, 1);
    this.#stats.errors.aborted++;
    follower.reject(follower.signal.reason);
    if (--slot.waiters === 0 && slot.state === SENT) {
      const batch = slot.batch;
      if (batch !== undefined && --batch.live === 0) batch.abort(follower.signal.reason);
    }
  }

  #whenFull(
    key: K,
    options: BatchCallOptions | undefined,
    signal: AbortSignal | undefined,
  ): Promise<V> {
    if (this.#reject) {
      this.#stats.errors.backpressure++;
      return Promise.reject(
        new BackpressureError(
          `${this.#where}: ${String(this.#maxPending)} keys are already pending (maxPending); retry later or await ready() before loading.`,
          this.#maxPending,
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: RoomWaiter = { resolve, reject, signal, onAbort: undefined };
      if (signal !== undefined) {
        waiter.onAbort = () => {
          const at = this.#roomWaiters.indexOf(waiter);
          if (at !== -1) this.#roomWaiters.splice(at, 1);
          this.#stats.errors.aborted++;
          reject(signal.reason as Error);
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#roomWaiters.push(waiter);
    }).then(() => this.#start(key, options, true));
  }

  #indexFor(scope: string): Map<unknown, Slot<K>> {
    let index = this.#indexes.get(scope);
    if (index === undefined) {
      index = new Map();
      this.#indexes.set(scope, index);
    }
    return index;
  }

  /** Someone listens to batch events, so their times must be taken. */
  #observed(): boolean {
    return (
      this.#dispatchListeners.active ||
      this.#batchListeners.active ||
      dispatchChannel.hasSubscribers ||
      settledChannel.hasSubscribers
    );
  }

  #newWindow(scope: string | undefined): Window<K> {
    const window: Window<K> = {
      scope,
      slots: [],
      openedAt: 0,
      generation: 0,
      fires: 0,
      fire: () => {
        if (--window.fires > 0 || window.slots.length === 0) return;
        if (this.#adaptive) {
          window.ticked = true;
          this.#evaluate(window);
        } else this.#closeWindow(window, false);
      },
      armed: false,
      timer: undefined,
      ticked: false,
      due: false,
      expired: false,
    };
    return window;
  }

  #windowFor(scope: string | undefined): Window<K> {
    if (scope === undefined) return this.#defaultWindow;
    let window = this.#windows.get(scope);
    if (window === undefined) {
      window = this.#newWindow(scope);
      this.#windows.set(scope, window);
    }
    return window;
  }

  #enqueue(slot: Slot<K>, scope: string | undefined, urgent: boolean): void {
    const window = this.#windowFor(scope);
    const size = window.slots.push(slot);
    this.#queued++;
    if (this.#control !== undefined) {
      this.#control.arrived();
      slot.at = this.#clock.now();
    }
    if (size === 1) this.#arm(window);
    if (urgent) {
      window.due = true;
      if (this.#adaptive) this.#evaluate(window);
      else this.#closeWindow(window, true);
    } else if (size >= this.#limit) {
      if (this.#adaptive) this.#evaluate(window);
      else this.#closeWindow(window, false);
    }
  }

  #arm(window: Window<K>): void {
    window.openedAt = this.#timed || this.#observed() ? this.#clock.now() : 0;
    window.armed = true;
    window.ticked = false;
    window.due = false;
    if (this.#adaptive || this.#maxWaitMs === 0) {
      window.fires++;
      this.#scheduler(window.fire);
    } else {
      const generation = window.generation;
      window.timer = this.#clock.setTimer(
        () => {
          window.timer = undefined;
          if (window.generation === generation) this.#closeWindow(window, false);
        },
        this.#maxWaitMs,
        { unref: false },
      );
    }
  }

  #urgent(scope: string | undefined): void {
    const window = this.#windowFor(scope);
    if (window.slots.length === 0) return;
    window.due = true;
    if (this.#adaptive) this.#evaluate(window);
    else this.#closeWindow(window, true);
  }

  /** Takes up to `count` keys out of the window; the rest stay (adaptive only leaves a rest). */
  #take(window: Window<K>, count: number): Batch<K> {
    let slots = window.slots;
    const openedAt = window.openedAt;
    if (slots.length > count) {
      window.slots = slots.slice(count);
      slots = slots.slice(0, count);
      // The hold timer of what stays counts from its own oldest key.
      window.openedAt = (window.slots[0] as Slot<K>).at;
      window.timer?.cancel();
      window.timer = undefined;
      window.expired = false;
    } else {
      window.slots = [];
      window.generation++;
      window.armed = false;
      window.due = false;
      window.expired = false;
      window.timer?.cancel();
      window.timer = undefined;
      if (window.scope !== undefined && window !== this.#defaultWindow) {
        this.#windows.delete(window.scope);
      }
    }
    return new Batch(slots, window.scope, openedAt);
  }

  #closeWindow(window: Window<K>, urgent: boolean): void {
    if (window.slots.length === 0) return;
    const batch = this.#take(window, window.slots.length);
    if (this.#active < this.#maxConcurrent) this.#send(batch);
    else if (urgent) this.#queue.unshift(batch);
    else this.#queue.push(batch);
  }

  /**
   * Adaptive: sends what the window should send now; holds the rest. `ack`:
   * a call just settled, so the held keys may leave if C allows (ACK clocking).
   * A window whose hold timer fired leaves once C allows (the timer may grow C
   * by one, see AdaptiveControl#expired); a due window (urgent, flush, close)
   * leaves even past C, bounded only by `maxConcurrentBatches`.
   */
  #evaluate(window: Window<K>, ack = false): void {
    const control = this.#control as AdaptiveControl;
    while (window.slots.length > 0 && this.#active < this.#maxConcurrent) {
      const size = window.slots.length;
      const room = this.#active < control.concurrency;
      const forced = window.due || this.#closed;
      const go =
        forced ||
        (room &&
          (size >= this.#limit || ack || window.expired || (window.ticked && this.#active === 0)));
      if (!go) {
        if (size >= this.#limit || window.expired) control.blocked();
        break;
      }
      const batch = this.#take(window, this.#limit);
      batch.binding = size >= this.#limit;
      this.#send(batch);
    }
    // A window that could not leave after its timer waits for the next completion, not a timer.
    if (
      window.slots.length > 0 &&
      window.ticked &&
      window.timer === undefined &&
      !window.due &&
      !window.expired
    ) {
      const generation = window.generation;
      const delay = Math.max(0, window.openedAt + this.#maxWaitMs - this.#clock.now());
      window.timer = this.#clock.setTimer(
        () => {
          window.timer = undefined;
          if (window.generation !== generation) return;
          window.expired = true;
          control.expired(this.#active);
          this.#evaluate(window);
        },
        delay,
        { unref: false },
      );
    }
  }

  // ---------------------------------------------------------------- sending

  #send(batch: Batch<K>): void {
    let slots = batch.slots;
    const n = slots.length;
    this.#queued -= n;
    // One pass marks the slots sent and collects the keys; a key nobody waits
    // for any more is dropped (slow path) before it costs an upstream call.
    let keys: K[] = new Array<K>(n);
    let dropped = false;
    for (let i = 0; i < n; i++) {
      const slot = slots[i] as Slot<K>;
      if (slot.waiters === 0) dropped = true;
      slot.state = SENT;
      slot.batch = batch;
      keys[i] = slot.key;
    }
    if (dropped) {
      const kept: Slot<K>[] = [];
      for (const slot of slots) {
        if (slot.waiters === 0) this.#finish(slot);
        else kept.push(slot);
      }
      slots = kept;
      batch.slots = kept;
      keys = kept.map((slot) => slot.key);
      if (kept.length === 0) {
        this.#afterBatch();
        return;
      }
    }
    batch.live = slots.length;
    this.#active++;
    this.#call(batch, slots, 1, undefined, keys);
  }

  /** One bulk call; `onDone` runs once this call's outcome is handled (retries go on in the background). */
  #call(
    batch: Batch<K>,
    slots: Slot<K>[],
    attempt: number,
    onDone?: () => void,
    given?: K[],
  ): void {
    let keys = given;
    if (keys === undefined) {
      keys = new Array<K>(slots.length);
      for (let i = 0; i < slots.length; i++) keys[i] = (slots[i] as Slot<K>).key;
    }
    const stats = this.#stats;
    stats.batches++;
    stats.items += keys.length;
    if (keys.length > stats.maxBatchSize) stats.maxBatchSize = keys.length;
    if (attempt > 1) stats.retries += keys.length;
    batch.outstanding++;
    const startedAt = this.#timed || this.#observed() ? this.#clock.now() : 0;
    if (this.#dispatchListeners.active || dispatchChannel.hasSubscribers) {
      const event: BatchDispatchEvent = {
        name: this.#name,
        scope: batch.scope,
        size: keys.length,
        attempt,
        waitMs: batch.openedAt === 0 ? 0 : startedAt - batch.openedAt,
        ...(this.#eventKeys && { keys: [...keys] }),
      };
      this.#dispatchListeners.emit(event);
      if (dispatchChannel.hasSubscribers) dispatchChannel.publish(event);
    }
    const call = new Call(batch, slots, attempt, startedAt, onDone, this.#active);
    let result: BatchLoadResult<K, V> | PromiseLike<BatchLoadResult<K, V>>;
    try {
      result = this.#load(keys, call);
    } catch (error) {
      this.#failed(call, error);
      return;
    }
    if (typeof (result as Partial<PromiseLike<unknown>> | null)?.then === 'function') {
      (result as PromiseLike<BatchLoadResult<K, V>>).then(
        (value) => {
          this.#loaded(call, value);
        },
        (error: unknown) => {
          this.#failed(call, error);
        },
      );
    } else this.#loaded(call, result as BatchLoadResult<K, V>);
  }

  #loaded(call: Call<K>, value: BatchLoadResult<K, V>): void {
    let failure: BatchContractError | undefined;
    try {
      failure = this.#route(call, value);
    } catch (error) {
      // A backstop: routing runs user code (resultKey, key, toString); whatever it throws
      // must reach the callers not yet settled, never escape as an unhandled rejection.
      failure = new BatchContractError(
        `${this.#where}: routing the result of load(keys) to its keys threw; the keys not yet settled fail.`,
        call.slots.length,
        undefined,
        { cause: error },
      );
    }
    if (failure !== undefined) {
      this.#contract(call, failure);
      return;
    }
    this.#settledEvent(call, call.partial ? 'partial' : 'ok');
    if (call.retry !== undefined) this.#retry(call, call.retry);
    this.#callDone(call);
  }

  /** Settles each slot of the call from `value`; returns an error for the whole call instead. */
  #route(call: Call<K>, value: BatchLoadResult<K, V>): BatchContractError | undefined {
    const slots = call.slots;
    const n = slots.length;
    if (this.#resultKey === undefined && Array.isArray(value)) {
      const values = value as readonly (V | Error)[];
      if (values.length !== n) {
        return new BatchContractError(
          `${this.#where}: load(keys) must return an array with one entry per key, in key order (or a Map, or a record), but returned an array of length ${String(values.length)} for ${String(n)} keys.`,
          n,
          values.length,
        );
      }
      for (let i = 0; i < n; i++) {
        const v = values[i];
        const slot = slots[i] as Slot<K>;
        if (v instanceof Error) this.#failItem(call, slot, v);
        else this.#resolveSlot(slot, v);
      }
      return undefined;
    }
    const lookup = this.#lookup(value, slots);
    if (typeof lookup === 'string') {
      return new BatchContractError(
        lookup,
        n,
        Array.isArray(value) ? (value as unknown[]).length : undefined,
      );
    }
    for (const slot of slots) {
      const found = lookup(slot);
      if (found instanceof Unroutable) {
        this.#stats.errors.contract++;
        this.#rejectSlot(slot, found.error);
        call.partial = true;
      } else if (found === MISSING) {
        if (this.#onMissing === 'error') {
          this.#failItem(
            call,
            slot,
            new NotFoundError(
              `${this.#where}: load(keys) returned no entry for key ${describe(slot.key)}.`,
              slot.key,
            ),
          );
        } else this.#resolveSlot(slot, this.#onMissing === 'null' ? null : undefined);
      } else if (found instanceof Error) this.#failItem(call, slot, found);
      else this.#resolveSlot(slot, found);
    }
    return undefined;
  }

  #failItem(call: Call<K>, slot: Slot<K>, error: unknown): void {
    call.partial = true;
    if (this.#retryable(call.batch, call.attempt, error)) (call.retry ??= []).push(slot);
    else {
      if (NotFoundError.is(error)) this.#stats.errors.notFound++;
      else this.#stats.errors.item++;
      this.#rejectSlot(slot, error);
    }
  }

  #retryable(batch: Batch<K>, attempt: number, error: unknown): boolean {
    return (
      attempt < this.#maxAttempts &&
      !batch.aborted &&
      this.#forcedError === undefined &&
      this.#retryOn(error)
    );
  }

  /**
   * Returns a function from slot to its value (MISSING, or Unroutable when
   * the result cannot say which value is this key's), or a contract
   * violation message. What is knowable is kept: a key the result names
   * unambiguously gets its value even when other entries cannot be routed;
   * only a key that might have been one of those fails, and it fails with a
   * BatchContractError (never silently `undefined`, never a crash).
   */
  #lookup(value: unknown, slots: readonly Slot<K>[]): ((slot: Slot<K>) => unknown) | string {
    const resultKey = this.#resultKey;
    const identity = this.#identity ?? defaultIdentity;
    if (resultKey !== undefined && Array.isArray(value)) {
      const byId = new Map<unknown, unknown>();
      let unroutable: unknown[] | undefined;
      for (const item of value as V[]) {
        try {
          byId.set(identity(resultKey(item)), item);
        } catch (error) {
          (unroutable ??= []).push(error);
        }
      }
      const failure =
        unroutable === undefined
          ? undefined
          : new Unroutable(
              new BatchContractError(
                `${this.#where}: resultKey (or key) threw for ${String(unroutable.length)} of the ${String((value as unknown[]).length)} items load(keys) returned, so the keys no routed item matched cannot be told missing from unroutable; they fail.`,
                slots.length,
                (value as unknown[]).length,
                { cause: unroutable[0] },
              ),
            );
      return (slot) => (byId.has(slot.id) ? byId.get(slot.id) : (failure ?? MISSING));
    }
    if (value instanceof Map) {
      const map = value as ReadonlyMap<unknown, unknown>;
      let byId: Map<unknown, unknown> | undefined;
      let failure: Unroutable | undefined;
      return (slot) => {
        if (map.has(slot.key)) return map.get(slot.key);
        if (byId === undefined) {
          byId = new Map();
          let first: unknown;
          let count = 0;
          for (const [k, v] of map) {
            try {
              byId.set(identity(k as K), v);
            } catch (error) {
              if (count++ === 0) first = error;
            }
          }
          if (count > 0) {
            failure = new Unroutable(
              new BatchContractError(
                `${this.#where}: the key of ${String(count)} of the ${String(map.size)} entries of the Map load(keys) returned has no identity (the key function threw), so the keys not found in it cannot be told missing from unroutable; they fail.`,
                slots.length,
                undefined,
                { cause: first },
              ),
            );
          }
        }
        return byId.has(slot.id) ? byId.get(slot.id) : (failure ?? MISSING);
      };
    }
    if (isRecord(value)) {
      const record = value as Record<string, unknown>;
      // A record is keyed by String(key): two keys of one batch with the same string form
      // (1 and "1") cannot be told apart in it, so neither gets the other's value.
      const names = new Map<Slot<K>, string | Unroutable>();
      const seen = new Map<string, number>();
      for (const slot of slots) {
        let name: string | Unroutable;
        try {
          name = String(slot.key);
          seen.set(name, (seen.get(name) ?? 0) + 1);
        } catch (error) {
          name = new Unroutable(
            new BatchContractError(
              `${this.#where}: load(keys) returned a record, which is keyed by String(key), but String() threw for key ${describe(slot.key)}; return a Map (or use resultKey) for such keys.`,
              slots.length,
              undefined,
              { cause: error },
            ),
          );
        }
        names.set(slot, name);
      }
      return (slot) => {
        const name = names.get(slot);
        if (name === undefined) return MISSING;
        if (name instanceof Unroutable) return name;
        if ((seen.get(name) ?? 0) > 1) {
          return new Unroutable(
            new BatchContractError(
              `${this.#where}: load(keys) returned a record, which is keyed by String(key), but several keys of the batch have the string form ${JSON.stringify(name)} (such as 1 and "1"); return a Map (or use resultKey) to keep them apart.`,
              slots.length,
              undefined,
            ),
          );
        }
        return Object.hasOwn(record, name) ? record[name] : MISSING;
      };
    }
    return `${this.#where}: load(keys) must return an array with one entry per key in key order, a Map, or a record keyed by String(key)${resultKey === undefined ? '' : ', or an array of items for resultKey'}, but returned ${describe(value)} for ${String(slots.length)} keys.`;
  }

  #contract(call: Call<K>, error: BatchContractError): void {
    for (const slot of call.slots) {
      if (slot.state === DONE) continue;
      this.#stats.errors.contract++;
      this.#rejectSlot(slot, error);
    }
    this.#settledEvent(call, 'error');
    this.#callDone(call);
  }

  #failed(call: Call<K>, error: unknown): void {
    const { batch, slots, attempt } = call;
    this.#settledEvent(call, 'error');
    if (this.#split && slots.length > 1 && !batch.aborted && this.#forcedError === undefined) {
      // The halves go one after the other, so isolating a poisoned key never bursts the upstream.
      const half = Math.ceil(slots.length / 2);
      batch.outstanding++;
      const onDone = call.onDone;
      call.onDone = undefined;
      this.#callDone(call);
      const run = (part: Slot<K>[], next: () => void): void => {
        const still = part.filter(live);
        if (still.length === 0 || this.#forcedError !== undefined) next();
        else this.#call(batch, still, attempt, next);
      };
      run(slots.slice(0, half), () => {
        run(slots.slice(half), () => {
          onDone?.();
          batch.outstanding--;
          this.#maybeBatchDone(batch);
        });
      });
      return;
    }
    if (this.#retryable(batch, attempt, error)) {
      this.#retry(call, slots);
    } else {
      for (const slot of slots) {
        if (slot.state === DONE) continue;
        this.#stats.errors.batch++;
        this.#rejectSlot(slot, error);
      }
    }
    this.#callDone(call);
  }

  #retry(call: Call<K>, slots: Slot<K>[]): void {
    const { batch, attempt } = call;
    const delay = this.#backoff?.delayMs(attempt, batch.lastDelayMs) ?? 0;
    batch.lastDelayMs = delay;
    batch.outstanding++;
    sleep(delay, { clock: this.#clock, signal: batch.signal() }).then(
      () => {
        batch.outstanding--;
        const still = slots.filter(live);
        if (still.length > 0 && this.#forcedError === undefined) {
          this.#call(batch, still, attempt + 1);
        } else this.#maybeBatchDone(batch);
      },
      (reason: unknown) => {
        batch.outstanding--;
        for (const slot of slots) this.#rejectSlot(slot, reason);
        this.#maybeBatchDone(batch);
      },
    );
  }

  #callDone(call: Call<K>): void {
    const batch = call.batch;
    batch.outstanding--;
    const control = this.#control;
    if (control !== undefined && call.attempt === 1) {
      const now = this.#clock.now();
      control.settled({
        size: call.slots.length,
        durationMs: now - call.startedAt,
        inFlightAtStart: call.inFlightAtStart,
        binding: batch.binding,
        now,
      });
      this.#limit = control.limit;
    }
    call.onDone?.();
    this.#maybeBatchDone(batch);
  }

  #maybeBatchDone(batch: Batch<K>): void {
    if (batch.outstanding > 0) return;
    if (batch.done) return;
    batch.done = true;
    if (this.#forcedError !== undefined) return;
    this.#active--;
    this.#afterBatch();
  }

  /** A concurrency slot is free: send queued batches, then (adaptive) held windows. */
  #afterBatch(): void {
    while (this.#queue.length > 0 && this.#active < this.#maxConcurrent) {
      this.#send(this.#queue.shift() as Batch<K>);
    }
    if (this.#adaptive) {
      this.#evaluate(this.#defaultWindow, true);
      for (const window of [...this.#windows.values()]) this.#evaluate(window, true);
    }
    this.#checkDrained();
  }

  #settledEvent(call: Call<K>, outcome: 'ok' | 'partial' | 'error'): void {
    if (!this.#batchListeners.active && !settledChannel.hasSubscribers) return;
    const { batch, slots, startedAt } = call;
    const event: BatchSettledEvent = {
      name: this.#name,
      scope: batch.scope,
      size: slots.length,
      attempt: call.attempt,
      waitMs: batch.openedAt === 0 ? 0 : startedAt - batch.openedAt,
      durationMs: startedAt === 0 ? 0 : this.#clock.now() - startedAt,
      outcome,
      ...(this.#eventKeys && { keys: slots.map((s) => s.key) }),
    };
    this.#batchListeners.emit(event);
    if (settledChannel.hasSubscribers) settledChannel.publish(event);
  }

  // ---------------------------------------------------------------- settling

  #resolveSlot(slot: Slot<K>, value: unknown): void {
    if (slot.state === DONE) return;
    slot.resolve?.(value);
    const followers = slot.followers;
    if (followers !== undefined) {
      for (const follower of followers) {
        follower.signal.removeEventListener('abort', follower);
        follower.resolve(value);
      }
    }
    this.#finish(slot);
  }

  #rejectSlot(slot: Slot<K>, error: unknown): void {
    if (slot.state === DONE) return;
    slot.reject?.(error);
    const followers = slot.followers;
    if (followers !== undefined) {
      for (const follower of followers) {
        follower.signal.removeEventListener('abort', follower);
        follower.reject(error);
      }
    }
    this.#finish(slot);
  }

  #finish(slot: Slot<K>): void {
    slot.state = DONE;
    slot.followers = undefined;
    if (slot.indexed) {
      const index = slot.index;
      // An indexed slot is its index's entry for its id, so size 1 means it is the last one:
      // the index is then replaced or dropped whole, never emptied (see #defaultIndex).
      if (index.size !== 1) index.delete(slot.id);
      else if (index === this.#defaultIndex) this.#defaultIndex = new Map();
      else {
        for (const [scope, candidate] of this.#indexes) {
          if (candidate === index) {
            this.#indexes.delete(scope);
            break;
          }
        }
      }
    }
    --this.#pending;
    if (this.#roomWaiters.length > 0 || this.#readyWaiters.length > 0) this.#room();
  }

  /** Gives back one unit of room taken by `#room` for a waiter that did not use it. */
  #release(): void {
    if (--this.#pending < this.#maxPending) this.#room();
    this.#checkDrained();
  }

  #room(): void {
    while (this.#roomWaiters.length > 0 && this.#pending < this.#maxPending) {
      const waiter = this.#roomWaiters.shift() as RoomWaiter;
      if (waiter.onAbort !== undefined) waiter.signal?.removeEventListener('abort', waiter.onAbort);
      // The room is taken now on the waiter's behalf, so no newcomer can jump the queue.
      this.#pending++;
      waiter.resolve();
    }
    if (this.#pending < this.#maxPending && this.#readyWaiters.length > 0) {
      const waiters = this.#readyWaiters;
      this.#readyWaiters = [];
      for (const waiter of waiters) waiter.resolve();
    }
  }

  // ---------------------------------------------------------------- control

  ready(): Promise<void> {
    // A closed batcher never has room: a producer waiting on ready() must stop, not load.
    if (this.#closed) return Promise.reject(this.#readyClosed());
    if (this.#pending < this.#maxPending) return Promise.resolve();
    return new Promise((resolve, reject) => this.#readyWaiters.push({ resolve, reject }));
  }

  flush(): void {
    if (this.#adaptive) {
      this.#defaultWindow.due = this.#defaultWindow.slots.length > 0;
      this.#evaluate(this.#defaultWindow);
      for (const window of [...this.#windows.values()]) {
        window.due = true;
        this.#evaluate(window);
      }
    } else {
      this.#closeWindow(this.#defaultWindow, false);
      for (const window of [...this.#windows.values()]) this.#closeWindow(window, false);
    }
  }

  stats(): BatchStats {
    const s = this.#stats;
    return {
      ...s,
      errors: { ...s.errors },
      meanBatchSize: s.batches === 0 ? 0 : s.items / s.batches,
      callsSaved: s.loads - s.batches,
      queueDepth: this.#queued,
      inFlightBatches: this.#active,
      queuedBatches: this.#queue.length,
      pending: this.#pending,
      sizeLimit: this.#limit,
      concurrencyLimit: this.#control?.concurrency ?? this.#maxConcurrent,
    };
  }

  onDispatch(listener: (event: BatchDispatchEvent) => void): Subscription {
    return this.#dispatchListeners.add(listener);
  }

  onBatch(listener: (event: BatchSettledEvent) => void): Subscription {
    return this.#batchListeners.add(listener);
  }

  close(options?: { readonly signal?: AbortSignal }): Promise<void> {
    const signal = options?.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      return Promise.reject(
        new TypeError(
          `${this.#where}: close() option signal must be an AbortSignal (aborting it forces the close), got ${describe(signal)}.`,
        ),
      );
    }
    if (signal !== undefined) {
      if (signal.aborted) this.#force(signal.reason);
      else {
        signal.addEventListener(
          'abort',
          () => {
            this.#force(signal.reason);
          },
          { once: true },
        );
      }
    }
    if (this.#closing !== undefined) return this.#closing;
    this.#closed = true;
    for (const waiter of this.#roomWaiters.splice(0)) {
      if (waiter.onAbort !== undefined) waiter.signal?.removeEventListener('abort', waiter.onAbort);
      this.#stats.errors.closed++;
      waiter.reject(new ClosedError(`${this.#where}: closed while waiting for room (maxPending).`));
    }
    for (const waiter of this.#readyWaiters.splice(0)) waiter.reject(this.#readyClosed());
    this.#closing = new Promise<void>((resolve) => {
      this.#drained = resolve;
    });
    this.flush();
    this.#checkDrained();
    return this.#closing;
  }

  #readyClosed(): ClosedError {
    return new ClosedError(
      `${this.#where}: ready() after close(): a closed batcher takes no more loads, so there will be no room.`,
    );
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #force(reason: unknown): void {
    if (this.#forcedError !== undefined) return;
    this.#closed = true;
    const error = new ClosedError(`${this.#where}: close() was forced; the load was abandoned.`, {
      cause: reason,
    });
    this.#forcedError = error;
    const slots = new Set<Slot<K>>(this.#defaultIndex.values());
    for (const index of this.#indexes.values()) for (const slot of index.values()) slots.add(slot);
    for (const slot of slots) {
      const batch = slot.batch;
      if (batch !== undefined && !batch.done) {
        batch.abort(error);
        batch.done = true;
      }
    }
    for (const batch of this.#queue) for (const slot of batch.slots) slots.add(slot);
    this.#queue.length = 0;
    for (const window of [this.#defaultWindow, ...this.#windows.values()]) {
      window.timer?.cancel();
      window.timer = undefined;
      window.slots = [];
      window.generation++;
    }
    this.#windows.clear();
    this.#queued = 0;
    for (const slot of slots) {
      if (slot.state === DONE) continue;
      this.#stats.errors.closed += slot.waiters;
      this.#rejectSlot(slot, error);
    }
    this.#active = 0;
    this.#checkDrained();
  }

  #checkDrained(): void {
    if (this.#drained === undefined) return;
    if (this.#pending === 0 && this.#active === 0 && this.#queue.length === 0) {
      const drained = this.#drained;
      this.#drained = undefined;
      drained();
    }
  }
}

const MISSING: unique symbol = Symbol('missing');

/** A key the bulk result cannot be routed to; its caller gets `error`. */
class Unroutable {
  constructor(readonly error: BatchContractError) {}
}

/** A plain object (prototype Object.prototype or null): Sets, class instances and the like are not records. */
function isRecord(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function live<K>(slot: Slot<K>): boolean {
  return slot.state !== DONE && slot.waiters > 0;
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * Turns a bulk function into a per-key loader: keys requested close together
 * go out as one call, each caller gets its own value or error back.
 *
 * @example
 * ```ts
 * const users = batch({
 *   load: (ids: number[]) => api.getUsers(ids), // values in key order, a Map, or a record
 *   maxSize: 100,
 *   maxWaitMs: 5,
 * });
 * const ada = await users.load(42);
 * const guarded = stack(retry({ maxAttempts: 3 })).wrap(users.handler);
 * ```
 */
export function batch<K, V>(options: BatchOptions<K, V>): Batcher<K, V> {
  return new BatcherImpl(options);
}
