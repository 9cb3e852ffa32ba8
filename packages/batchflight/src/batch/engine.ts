/**
 * The batching engine: the slots of distinct keys (dedupe, callers that
 * leave), the windows they wait in (`windows.ts`), the bulk calls (made and
 * settled by a {@link CallProtocol}: `batch()`'s routing, or the DataLoader
 * façade's), room under `maxPending`, events, counters and close.
 *
 * `batch()` returns this engine; `DataLoader` drives one through
 * {@link EngineMode} (distinct keys, its own protocol, full windows that wait
 * for their schedule), so both batch with the same code.
 */
import {
  ClosedError,
  Listeners,
  NEVER_ABORTED,
  describe,
  eventChannel,
  type Handler,
  type Subscription,
} from '../core/index.js';
import { AdaptiveControl } from './adaptive.js';
import { BackpressureError } from './errors.js';
import { defaultIdentity, type BatchConfig } from './options.js';
import { BatchRouting, type CallProtocol, type EngineCore } from './routing.js';
import { Batch, Call, DONE, Follower, OPEN, SENT, Slot, type RoomWaiter } from './slots.js';
import type {
  BatchCallOptions,
  BatchDispatchEvent,
  BatchSettledEvent,
  BatchStats,
  Batcher,
} from './types.js';
import { Windows } from './windows.js';

const dispatchChannel = eventChannel<BatchDispatchEvent>('batch', 'dispatch');
const settledChannel = eventChannel<BatchSettledEvent>('batch', 'settled');

/** How a façade drives the engine differently from `batch()`; not part of the public options. */
export interface EngineMode<K> {
  /** Every key added is its own slot: no dedupe index (the façade memoises itself). */
  readonly distinct: boolean;
  /** A full window waits for its own scheduler callback (DataLoader's `maxBatchSize`). */
  readonly fullWaitsForSchedule: boolean;
  /** Makes the bulk calls instead of `batch()`'s routing. */
  readonly protocol?: (engine: EngineCore<K>) => CallProtocol<K>;
  /** Called when a window that held only an attachment closes. */
  readonly closedEmpty?: (attachment: unknown) => void;
}

const BATCH_MODE: EngineMode<never> = { distinct: false, fullWaitsForSchedule: false };

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** The engine behind {@link Batcher}. */
export class BatcherImpl<K, V> implements Batcher<K, V>, EngineCore<K> {
  readonly #config: BatchConfig<K, V>;
  readonly #where: string;
  readonly #identity: (key: K) => unknown;
  readonly #maxPending: number;
  readonly #distinct: boolean;
  readonly #protocol: CallProtocol<K>;
  readonly #closedEmpty: ((attachment: unknown) => void) | undefined;
  /** Time is needed for the window itself (timed or adaptive); else only when observed. */
  readonly #timed: boolean;
  readonly #windows: Windows<K>;
  /** Adaptive only: the size and concurrency limits and what they learn from. */
  readonly #control: AdaptiveControl | undefined;

  /**
   * Replaced (not emptied) when its last slot settles: deleting a Map's last
   * entry makes V8 shrink its table through a runtime call, dearer than a new Map.
   */
  #defaultIndex = new Map<unknown, Slot<K>>();
  readonly #indexes = new Map<string, Map<unknown, Slot<K>>>();
  readonly #roomWaiters: RoomWaiter[] = [];
  #readyWaiters: { resolve: () => void; reject: (error: unknown) => void }[] = [];
  readonly #dispatchListeners = new Listeners<BatchDispatchEvent>();
  readonly #batchListeners = new Listeners<BatchSettledEvent>();

  #pending = 0;
  #closed = false;
  #closing: Promise<void> | undefined;
  #drained: (() => void) | undefined;
  /** EngineCore: the error of a forced close, once there was one. */
  forcedError: ClosedError | undefined;

  /** EngineCore: the live counters; {@link stats} hands out a copy. */
  readonly counters: BatchStats = {
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

  constructor(config: BatchConfig<K, V>, mode: EngineMode<K> = BATCH_MODE) {
    this.#config = config;
    this.#where = config.where;
    this.#identity = config.identity ?? defaultIdentity;
    this.#maxPending = config.maxPending;
    this.#distinct = mode.distinct;
    this.#closedEmpty = mode.closedEmpty;
    this.#control = config.adaptive
      ? new AdaptiveControl(
          config.maxSize,
          config.maxConcurrentBatches,
          config.budgetMs,
          config.latencyTargetMs,
        )
      : undefined;
    this.#timed = config.adaptive || config.maxWaitMs > 0;
    this.#windows = new Windows<K>(
      {
        adaptive: config.adaptive,
        maxWaitMs: config.maxWaitMs,
        scheduler: config.scheduler,
        clock: config.clock,
        maxConcurrent: config.maxConcurrentBatches,
        fullWaitsForSchedule: mode.fullWaitsForSchedule,
      },
      this,
      this.#control?.limit ?? config.maxSize,
      this.#control,
    );
    this.#protocol = mode.protocol?.(this) ?? new BatchRouting(config, this);
    this.handler = (key, ctx) => this.load(key, ctx);
  }

  /** WindowHost: close() was called, so held keys leave at once. */
  get closing(): boolean {
    return this.#closed;
  }

  // ---------------------------------------------------------------- loading

  load(key: K, options?: BatchCallOptions): Promise<V> {
    this.counters.loads++;
    return this.#start(key, options, false);
  }

  /**
   * Façades: the open window of the default scope, opened (its scheduler
   * called) if it was not. A façade rides its own state on `attachment`.
   */
  openWindow(): { attachment: unknown } {
    return this.#windows.open(undefined);
  }

  /** Façades in distinct mode: a new slot for `key` in the default window, its shared promise set. */
  add(key: K): Slot<K> {
    this.counters.loads++;
    this.#pending++;
    const slot = new Slot<K>(key, undefined, undefined);
    slot.indexed = false;
    slot.waiters = 1;
    // The caller reads slot.promise; it handles it, so nothing floats here.
    void slot.shared();
    this.#windows.add(slot, undefined, false);
    return slot;
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
        this.counters.errors.aborted++;
        return Promise.reject(signal.reason as Error);
      }
    }
    if (this.#closed) {
      if (reserved) this.#release();
      this.counters.errors.closed++;
      return Promise.reject(new ClosedError(`${this.#where}: load() was called after close().`));
    }
    if (this.#distinct) {
      if (!reserved) {
        if (this.#pending >= this.#maxPending) return this.#whenFull(key, options, signal);
        this.#pending++;
      }
      const slot = new Slot<K>(key, undefined, undefined);
      slot.indexed = false;
      const promise = this.#join(slot, signal);
      this.#windows.add(slot, scope, urgent);
      return promise as Promise<V>;
    }
    const index = scope === undefined ? this.#defaultIndex : this.#indexFor(scope);
    let id: unknown;
    try {
      id = this.#identity(key);
    } catch (error) {
      // A key the encoder refuses (a Promise, an Error, a class instance without toJSON()) or a
      // throwing key option fails this call alone, as a rejection like every other load() failure.
      if (reserved) this.#release();
      return Promise.reject(toError(error));
    }
    let slot = index.get(id);
    if (slot !== undefined && !(slot.state === SENT && slot.batch?.aborted === true)) {
      if (reserved) this.#release();
      if (slot.state === OPEN) this.counters.dedupedInWindow++;
      else this.counters.joinedInFlight++;
      const promise = this.#join(slot, signal);
      if (urgent) this.#windows.urgent(scope);
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
    this.#windows.add(slot, scope, urgent);
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
    if (signal === undefined) return slot.shared();
    const follower = new Follower(slot, signal, this);
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
    this.counters.errors.aborted++;
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
    if (this.#config.rejectWhenFull) {
      this.counters.errors.backpressure++;
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
          this.counters.errors.aborted++;
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

  /** Someone listens to batch events, so their times must be taken (WindowHost). */
  observed(): boolean {
    return (
      this.#dispatchListeners.active ||
      this.#batchListeners.active ||
      dispatchChannel.hasSubscribers ||
      settledChannel.hasSubscribers
    );
  }

  /** WindowHost: a window armed for an attachment alone closed. */
  closedEmpty(attachment: unknown): void {
    this.#closedEmpty?.(attachment);
    this.#checkDrained();
  }

  // ---------------------------------------------------------------- sending

  /** WindowHost: a closed batch may leave now. */
  send(batch: Batch<K>): void {
    let slots = batch.slots;
    const n = slots.length;
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
    this.#windows.active++;
    this.#call(batch, slots, 1, undefined, keys);
  }

  /** EngineCore: one more bulk call of a batch (a retry or a split half). */
  call(batch: Batch<K>, slots: Slot<K>[], attempt: number, onDone?: () => void): void {
    this.#call(batch, slots, attempt, onDone, undefined);
  }

  /** One bulk call; `onDone` runs once this call's outcome is handled (retries go on in the background). */
  #call(
    batch: Batch<K>,
    slots: Slot<K>[],
    attempt: number,
    onDone: (() => void) | undefined,
    given: K[] | undefined,
  ): void {
    let keys = given;
    if (keys === undefined) {
      keys = new Array<K>(slots.length);
      for (let i = 0; i < slots.length; i++) keys[i] = (slots[i] as Slot<K>).key;
    }
    const stats = this.counters;
    stats.batches++;
    stats.items += keys.length;
    if (keys.length > stats.maxBatchSize) stats.maxBatchSize = keys.length;
    if (attempt > 1) stats.retries += keys.length;
    batch.outstanding++;
    const startedAt = this.#timed || this.observed() ? this.#config.clock.now() : 0;
    if (this.#dispatchListeners.active || dispatchChannel.hasSubscribers) {
      const event: BatchDispatchEvent = {
        name: this.#config.name,
        scope: batch.scope,
        size: keys.length,
        attempt,
        waitMs: batch.openedAt === 0 ? 0 : startedAt - batch.openedAt,
        ...(this.#config.eventKeys && { keys: [...keys] }),
      };
      this.#dispatchListeners.emit(event);
      if (dispatchChannel.hasSubscribers) dispatchChannel.publish(event);
    }
    const call = new Call(batch, slots, attempt, startedAt, onDone, this.#windows.active);
    this.#protocol.start(call, keys);
  }

  /** EngineCore: the call is handled; the adaptive window learns from a first attempt. */
  callDone(call: Call<K>): void {
    const batch = call.batch;
    batch.outstanding--;
    const control = this.#control;
    if (control !== undefined && call.attempt === 1) {
      const now = this.#config.clock.now();
      control.settled({
        size: call.slots.length,
        durationMs: now - call.startedAt,
        inFlightAtStart: call.inFlightAtStart,
        binding: batch.binding,
        now,
      });
      this.#windows.limit = control.limit;
    }
    call.onDone?.();
    this.maybeBatchDone(batch);
  }

  /** EngineCore: once no call of the batch is outstanding, its concurrency slot is free. */
  maybeBatchDone(batch: Batch<K>): void {
    if (batch.outstanding > 0) return;
    if (batch.done) return;
    batch.done = true;
    if (this.forcedError !== undefined) return;
    this.#windows.active--;
    this.#afterBatch();
  }

  #afterBatch(): void {
    this.#windows.settled();
    this.#checkDrained();
  }

  /** EngineCore: the `onBatch` event and channel. */
  settledEvent(call: Call<K>, outcome: 'ok' | 'partial' | 'error'): void {
    if (!this.#batchListeners.active && !settledChannel.hasSubscribers) return;
    const { batch, slots, startedAt } = call;
    const event: BatchSettledEvent = {
      name: this.#config.name,
      scope: batch.scope,
      size: slots.length,
      attempt: call.attempt,
      waitMs: batch.openedAt === 0 ? 0 : startedAt - batch.openedAt,
      durationMs: startedAt === 0 ? 0 : this.#config.clock.now() - startedAt,
      outcome,
      ...(this.#config.eventKeys && { keys: slots.map((s) => s.key) }),
    };
    this.#batchListeners.emit(event);
    if (settledChannel.hasSubscribers) settledChannel.publish(event);
  }

  // ---------------------------------------------------------------- settling

  /** EngineCore: every caller of the slot gets `value`. */
  resolveSlot(slot: Slot<K>, value: unknown): void {
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

  /** EngineCore: every caller of the slot gets `error`. */
  rejectSlot(slot: Slot<K>, error: unknown): void {
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
    const index = slot.index;
    if (slot.indexed && index !== undefined) {
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
    this.#windows.flush();
  }

  stats(): BatchStats {
    const s = this.counters;
    const windows = this.#windows;
    return {
      ...s,
      errors: { ...s.errors },
      meanBatchSize: s.batches === 0 ? 0 : s.items / s.batches,
      callsSaved: s.loads - s.batches,
      queueDepth: windows.queued,
      inFlightBatches: windows.active,
      queuedBatches: windows.queue.length,
      pending: this.#pending,
      sizeLimit: windows.limit,
      concurrencyLimit: this.#control?.concurrency ?? this.#config.maxConcurrentBatches,
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
      this.counters.errors.closed++;
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
    if (this.forcedError !== undefined) return;
    this.#closed = true;
    const error = new ClosedError(`${this.#where}: close() was forced; the load was abandoned.`, {
      cause: reason,
    });
    this.forcedError = error;
    const slots = new Set<Slot<K>>(this.#defaultIndex.values());
    for (const index of this.#indexes.values()) for (const slot of index.values()) slots.add(slot);
    for (const slot of slots) {
      const batch = slot.batch;
      if (batch !== undefined && !batch.done) {
        batch.abort(error);
        batch.done = true;
      }
    }
    for (const slot of this.#windows.clear()) slots.add(slot);
    for (const slot of slots) {
      if (slot.state === DONE) continue;
      this.counters.errors.closed += slot.waiters;
      this.rejectSlot(slot, error);
    }
    this.#windows.active = 0;
    this.#checkDrained();
  }

  #checkDrained(): void {
    if (this.#drained === undefined) return;
    const windows = this.#windows;
    if (this.#pending === 0 && windows.active === 0 && windows.queue.length === 0) {
      const drained = this.#drained;
      this.#drained = undefined;
      drained();
    }
  }
}
