/**
 * `rateLimit()`: GCRA rate limiting per key and per scope.
 *
 * Every call charges `cost` units (default 1) to the limits of its key
 * (`key(input)`, within `ctx.scope`). Several limits (`limits: [20/s,
 * 1000/min]`) are charged all or nothing in one store operation. When a call
 * does not fit:
 *
 * - `whenLimited: 'wait'` (default): the caller joins its key's FIFO queue
 *   (bounded by `maxQueued` over all keys). One timer per key, armed for the
 *   head's `retryAfterMs`, retries the head when it may pass, then the next
 *   ones at once while they fit: no polling, no timer per caller. A newcomer
 *   never overtakes a waiter of its key (an `urgent` one goes to the front).
 *   A waiter whose signal aborts leaves the queue and rejects with
 *   `signal.reason`.
 * - `whenLimited: 'reject'`: the call fails at once with a
 *   {@link RateLimitedError} carrying `retryAfterMs`, `limit`, `remaining`.
 *
 * Time: the store decides with its own clock (a Redis store uses the server's
 * clock, shared by the whole fleet); the limiter's `clock` only drives the
 * queue timers, relative to the store's `retryAfterMs`.
 */
import {
  CALL_OPTIONS,
  callOptions,
  type CallContext,
  type CallOptions,
  type Clock,
  ClosedError,
  closeOptions,
  forceCloseWhen,
  type GracefulCloseOptions,
  type Handler,
  InvalidOptionError,
  type Layer,
  Listeners,
  NEVER_ABORTED,
  nameOption,
  rejectWith,
  type Subscription,
  describe,
  functionOption,
  knownOptions,
  oneOfOption,
  systemClock,
} from '../core/index.js';
import { RateLimitedError, type RateLimitedReason } from './errors.js';
import { MemoryRateLimitStore } from './memory-store.js';
import {
  OPTIONS,
  rateLimitChannels,
  type RateLimitCallOptions,
  type RateLimitDequeuedEvent,
  type RateLimitedEvent,
  type RateLimitOptions,
  type RateLimitSettings,
  type RateLimitStats,
  SETTINGS,
} from './options.js';
import {
  checkCost,
  checkKey,
  limitedError,
  mergeSettings,
  parseSettings,
  publicSettings,
  type Settings,
  storeRules,
  WHERE,
} from './settings.js';
import type { RateLimitDecision, RateLimitRule, RateLimitStore } from './store.js';
import type { KeyQueue, Waiter } from './waiters.js';

/** The names `acquire`, `schedule` and `tryAcquire` accept. */
const ACQUIRE_OPTIONS: readonly string[] = [...CALL_OPTIONS, 'key', 'cost'];

/**
 * A rate limiter: a `Layer`, plus `acquire()` / `schedule(fn)` for plain
 * code. Create it with {@link rateLimit}.
 *
 * @typeParam I - the input of the handlers it wraps (for `key` and `cost`).
 */
export class RateLimitPolicy<I = unknown> implements Layer<I, unknown>, AsyncDisposable {
  #settings: Settings;
  readonly #store: RateLimitStore;
  readonly #ownsStore: boolean;
  readonly #keyOf: ((input: I) => string) | undefined;
  readonly #costOf: ((input: I) => number) | undefined;
  readonly #reject: boolean;
  readonly #name: string;
  readonly #where: string;
  readonly #clock: Clock;
  readonly #queues = new Map<string, KeyQueue>();
  readonly #onLimited = new Listeners<RateLimitedEvent>();
  readonly #onDequeued = new Listeners<RateLimitDequeuedEvent>();
  #closed: Promise<void> | undefined;
  #queued = 0;
  #admitted = 0;
  #limited = 0;
  #rejected = 0;
  #waited = 0;
  #aborted = 0;

  constructor(options: RateLimitOptions<I>) {
    if (typeof options !== 'object' || (options as unknown) === null) {
      throw new TypeError(
        `${WHERE}: options must be an object with rate (or limits), got ${describe(options)}.`,
      );
    }
    knownOptions(WHERE, options, OPTIONS);
    this.#settings = parseSettings(WHERE, options);
    this.#clock = options.clock ?? systemClock;
    if (options.store === undefined) {
      this.#store = new MemoryRateLimitStore({ clock: this.#clock });
      this.#ownsStore = true;
    } else {
      const store = options.store as Partial<RateLimitStore> | null;
      if (
        typeof store !== 'object' ||
        store === null ||
        typeof store.acquire !== 'function' ||
        typeof store.reset !== 'function'
      ) {
        throw new InvalidOptionError(
          'store',
          `${WHERE}: option store must be a RateLimitStore (acquire, reset), got ${describe(options.store)}.`,
        );
      }
      this.#store = options.store;
      this.#ownsStore = false;
    }
    this.#keyOf =
      options.key === undefined
        ? undefined
        : functionOption<(input: I) => string>(WHERE, 'key', options.key);
    this.#costOf =
      options.cost === undefined
        ? undefined
        : functionOption<(input: I) => number>(WHERE, 'cost', options.cost);
    this.#reject =
      oneOfOption(WHERE, 'whenLimited', options.whenLimited ?? 'wait', ['wait', 'reject']) ===
      'reject';
    this.#name = nameOption(WHERE, options.name, 'rl');
    this.#where = `rateLimit(${this.#name})`;
  }

  /** The limiter's name: events carry it and it prefixes the store keys. */
  get name(): string {
    return this.#name;
  }

  /** The settings in force: the limit(s) with their burst and period in ms, and the queue bounds. */
  get settings(): RateLimitSettings {
    return publicSettings(this.#settings);
  }

  /**
   * Changes the limits and queue bounds while the limiter runs, all at once: every call from
   * now on is charged against the new limits, and every waiting call is asked again at once
   * under them (a raised rate admits waiters without waiting for the timer armed under the
   * old one; a lowered one makes them wait longer). The state of each key (its GCRA arrival
   * time) is kept: the limits are parameters of the store, not state, so the time charged
   * under the old rate stays charged (a raised rate admits once that time has passed; a
   * raised burst at once, as far as the new window has room). Calls already admitted
   * are not touched; a lowered `maxQueued` refuses new waiters, never the ones queued. A
   * waiter whose cost exceeds the new smallest burst could never pass and is rejected with
   * the error an acquire of that cost gets.
   *
   * `settings` merge over the ones in force: a key left out keeps its value, a key given as
   * `undefined` goes back to its default; `rate`/`per`/`burst` merge into a single limit
   * (`burst` left to its default follows the rate). Invalid settings throw the constructor's
   * error and change nothing. With `dryRun` they are only checked. Publishes `configured`.
   *
   * @example
   * ```ts
   * api.configure({ rate: 50 }); // the upstream raised our quota
   * ```
   */
  configure(settings: RateLimitSettings, options?: { readonly dryRun?: boolean }): void {
    if (typeof settings !== 'object' || (settings as unknown) === null) {
      throw new TypeError(
        `${this.#where}.configure(): settings must be an object of ${SETTINGS.join(', ')}, got ${describe(settings)}.`,
      );
    }
    const previous = this.#settings;
    const next = mergeSettings(previous, settings);
    if (options?.dryRun === true) return;
    this.#settings = next;
    for (const queue of [...this.#queues.values()]) this.#retune(queue);
    if (rateLimitChannels.configured.hasSubscribers) {
      rateLimitChannels.configured.publish({
        name: this.#name,
        previous: publicSettings(previous),
        current: publicSettings(next),
      });
    }
  }

  /**
   * A handler that admits each call through the limit of `key(input)` (in
   * `ctx.scope`) before calling `next`.
   *
   * @example
   * ```ts
   * const perUser = rateLimit({ rate: 5, per: 'second', key: (req: Request) => req.userId });
   * const handle = stack(perUser, timeout({ ms: 2_000 })).wrap(callApi);
   * ```
   */
  wrap<In extends I, O>(next: Handler<In, O>): Handler<In, O> {
    functionOption(`${this.#where}.wrap()`, 'next', next);
    return (input: In, ctx: CallContext): Promise<O> => {
      let gate: Promise<void> | undefined;
      try {
        const key = this.#keyOf === undefined ? '' : this.#keyOf(input);
        const cost = this.#costOf === undefined ? 1 : this.#costOf(input);
        gate = this.#admit(key, cost, ctx);
      } catch (error) {
        return rejectWith(error);
      }
      return gate === undefined ? next(input, ctx) : gate.then(() => next(input, ctx));
    };
  }

  /**
   * Resolves when `cost` units of `key` (in `scope`) are granted: at once,
   * after waiting in the key's queue (`'wait'`), or rejects with
   * {@link RateLimitedError} (`'reject'`, or a full queue) or `signal.reason`.
   *
   * @example
   * ```ts
   * await limiter.acquire({ key: `user:${userId}`, signal });
   * await callApi();
   * ```
   */
  acquire(options?: RateLimitCallOptions): Promise<void> {
    try {
      callOptions(`${this.#where}.acquire()`, options, ACQUIRE_OPTIONS);
      return (
        this.#admit(
          options?.key ?? '',
          options?.cost ?? 1,
          options ?? { signal: undefined, scope: undefined, urgent: undefined },
        ) ?? Promise.resolve()
      );
    } catch (error) {
      return rejectWith(error);
    }
  }

  /**
   * Runs `fn` once admitted; resolves or rejects with its outcome.
   *
   * @example
   * ```ts
   * const user = await limiter.schedule(() => api.getUser(id), { key: 'api' });
   * ```
   */
  schedule<T>(fn: () => Promise<T> | T, options?: RateLimitCallOptions): Promise<T> {
    try {
      functionOption(`${this.#where}.schedule()`, 'fn', fn);
      callOptions(`${this.#where}.schedule()`, options, ACQUIRE_OPTIONS);
    } catch (error) {
      return rejectWith(error);
    }
    return this.acquire(options).then(fn);
  }

  /**
   * Asks the store once, without waiting or throwing: when allowed the units
   * are charged. Bypasses the queue, so waiting callers may be overtaken;
   * meant for HTTP middleware that answers 429 itself.
   *
   * @example
   * ```ts
   * const d = await limiter.tryAcquire({ key: ip });
   * if (!d.allowed) return reply.code(429).header('retry-after', Math.ceil(d.retryAfterMs / 1000));
   * ```
   */
  async tryAcquire(options?: RateLimitCallOptions): Promise<RateLimitDecision> {
    callOptions(`${this.#where}.tryAcquire()`, options, ACQUIRE_OPTIONS);
    if (this.#closed !== undefined) {
      throw new ClosedError(`${this.#where}: tryAcquire() after close().`);
    }
    checkKey(this.#where, options?.key ?? '');
    const cost = checkCost(this.#where, this.#settings, options?.cost ?? 1);
    const decision = await this.#store.acquire({
      rules: storeRules(this.#settings, this.#queueId(options?.key ?? '', options?.scope)),
      cost,
    });
    if (decision.allowed) this.#admitted++;
    else this.#limited++;
    return decision;
  }

  /** Forgets the state of `key` (in `scope`): it gets a full burst again. */
  async reset(key = '', options?: { readonly scope?: string | undefined }): Promise<void> {
    checkKey(this.#where, key);
    callOptions(`${this.#where}.reset()`, options, ['scope']);
    await this.#store.reset(
      storeRules(this.#settings, this.#queueId(key, options?.scope)).map((r) => r.key),
    );
  }

  /** The counters since construction; see {@link RateLimitStats}. */
  stats(): RateLimitStats {
    return {
      admitted: this.#admitted,
      limited: this.#limited,
      rejected: this.#rejected,
      waited: this.#waited,
      aborted: this.#aborted,
      queued: this.#queued,
    };
  }

  /**
   * Calls `listener` when a call finds no room (it then waits or is rejected).
   *
   * @example
   * ```ts
   * limiter.onLimited(({ key, action, retryAfterMs }) => metrics.limited.inc({ action }));
   * ```
   */
  onLimited(listener: (event: RateLimitedEvent) => void): Subscription {
    return this.#onLimited.add(listener);
  }

  /**
   * Calls `listener` when a waiting call is admitted.
   *
   * @example
   * ```ts
   * limiter.onDequeued(({ waitedMs }) => metrics.queueWait.observe(waitedMs));
   * ```
   */
  onDequeued(listener: (event: RateLimitDequeuedEvent) => void): Subscription {
    return this.#onDequeued.add(listener);
  }

  /**
   * Rejects every waiting caller with a `ClosedError` at once (a caller
   * waiting for permission has nothing to finish), refuses new calls and
   * closes the store if the limiter created it. `signal` and `timeoutMs`
   * bound the wait for that store: when one fires the close resolves
   * without waiting further. Idempotent.
   *
   * @example
   * ```ts
   * await limiter.close({ timeoutMs: 1_000 });
   * ```
   */
  close(options?: GracefulCloseOptions): Promise<void> {
    try {
      closeOptions(`${this.#where}.close()`, options);
    } catch (error) {
      return rejectWith(error);
    }
    this.#closed ??= this.#shutDown();
    if (options === undefined) return this.#closed;
    const closed = this.#closed;
    return new Promise<void>((resolve, reject) => {
      const disarm = forceCloseWhen(`${this.#where}.close()`, options, this.#clock, () => {
        resolve();
      });
      closed.finally(disarm).then(resolve, reject);
    });
  }

  async #shutDown(): Promise<void> {
    const error = new ClosedError(`${this.#where}: the limiter was closed while the call waited.`);
    for (const queue of [...this.#queues.values()]) {
      queue.timer?.cancel();
      queue.timer = undefined;
      for (const waiter of [...queue.waiters]) {
        this.#aborted++;
        this.#leave(waiter);
        waiter.reject(error);
      }
    }
    this.#queues.clear();
    if (this.#ownsStore) await this.#store.close?.();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // --- internals -----------------------------------------------------------

  /** Re-asks the store for the head of `queue` under the new limits (configure()). */
  #retune(queue: KeyQueue): void {
    queue.rules = storeRules(this.#settings, queue.id);
    const minBurst = this.#settings.minBurst;
    for (const waiter of [...queue.waiters]) {
      // The time the store promised was under the old limits: the stall bound starts again.
      waiter.dueAt = undefined;
      if (waiter.cost > minBurst) {
        try {
          checkCost(this.#where, this.#settings, waiter.cost);
        } catch (error) {
          this.#fail(waiter, error);
        }
      }
    }
    if (!this.#queues.has(queue.id)) return;
    // A decision in flight was asked under the old limits: #drain asks again when it returns.
    if (queue.busy) return;
    queue.timer?.cancel();
    queue.timer = undefined;
    this.#drain(queue);
  }

  /** Undefined when admitted synchronously; a promise when waiting or asking an async store. Throws when refused. */
  #admit(key: string, cost: number, ctx: CallOptions): Promise<void> | undefined {
    if (this.#closed !== undefined) throw new ClosedError(`${this.#where}: call after close().`);
    checkKey(this.#where, key);
    checkCost(this.#where, this.#settings, cost);
    const signal = ctx.signal;
    if (signal?.aborted === true) throw signal.reason;
    const id = this.#queueId(key, ctx.scope);
    const queue = this.#queues.get(id);
    // FIFO: a newcomer never overtakes the waiters of its key.
    if (queue !== undefined && queue.waiters.length > 0 && ctx.urgent !== true) {
      return this.#enqueue(queue, cost, ctx, undefined);
    }
    const rules = queue?.rules ?? storeRules(this.#settings, id);
    const decision = this.#store.acquire({ rules, cost });
    if (isThenable(decision)) {
      const asked = this.#settings;
      return Promise.resolve(decision).then((d) =>
        // Refused under limits configure() has replaced since: admit again under the new ones.
        d.allowed || asked === this.#settings
          ? this.#decided(d, id, key, rules, cost, ctx)
          : this.#admit(key, cost, ctx),
      );
    }
    return this.#decided(decision, id, key, rules, cost, ctx);
  }

  #decided(
    decision: RateLimitDecision,
    id: string,
    key: string,
    rules: readonly RateLimitRule[],
    cost: number,
    ctx: CallOptions,
  ): Promise<void> | undefined {
    if (decision.allowed) {
      this.#admitted++;
      if (rateLimitChannels.admitted.hasSubscribers) {
        rateLimitChannels.admitted.publish({
          name: this.#name,
          key,
          scope: ctx.scope,
          cost,
          waitedMs: 0,
        });
      }
      return undefined;
    }
    this.#limited++;
    if (this.#reject) {
      this.#rejected++;
      this.#emitLimited(key, ctx.scope, cost, decision.retryAfterMs, 'reject');
      throw this.#refuse(key, ctx.scope, cost, decision, 'limited');
    }
    let queue = this.#queues.get(id);
    if (queue === undefined) {
      queue = { id, key, scope: ctx.scope, waiters: [], rules, timer: undefined, busy: false };
      this.#queues.set(id, queue);
    }
    return this.#enqueue(queue, cost, ctx, decision);
  }

  #enqueue(
    queue: KeyQueue,
    cost: number,
    ctx: CallOptions,
    decision: RateLimitDecision | undefined,
  ): Promise<void> {
    if (this.#queued >= this.#settings.maxQueued) {
      this.#rejected++;
      this.#emitLimited(
        queue.key,
        ctx.scope,
        cost,
        decision?.retryAfterMs ?? Infinity,
        'queue-full',
      );
      if (queue.waiters.length === 0 && queue.timer === undefined) this.#queues.delete(queue.id);
      throw this.#refuse(queue.key, ctx.scope, cost, decision, 'queue-full');
    }
    if (decision === undefined) this.#limited++;
    this.#emitLimited(queue.key, ctx.scope, cost, decision?.retryAfterMs ?? Infinity, 'wait');
    return new Promise<void>((resolve, reject) => {
      const signal = ctx.signal;
      const waiter: Waiter = {
        queue,
        cost,
        enqueuedAt: this.#clock.now(),
        dueAt: decision === undefined ? undefined : this.#clock.now() + decision.retryAfterMs,
        resolve,
        reject,
        signal,
        onAbort: undefined,
      };
      // The shared never-aborting signal would collect a listener per waiter.
      if (signal !== undefined && signal !== NEVER_ABORTED) {
        waiter.onAbort = () => {
          this.#aborted++;
          this.#leave(waiter);
          reject(signal.reason as Error);
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      if (ctx.urgent === true) queue.waiters.unshift(waiter);
      else queue.waiters.push(waiter);
      this.#queued++;
      if (queue.timer === undefined && !queue.busy) {
        this.#arm(queue, decision?.retryAfterMs ?? 0);
      }
    });
  }

  #arm(queue: KeyQueue, delayMs: number): void {
    // Whole milliseconds, at least one: a timer that fires a fraction early
    // would only be re-armed.
    queue.timer = this.#clock.setTimer(
      () => {
        queue.timer = undefined;
        this.#drain(queue);
      },
      Math.max(1, Math.ceil(delayMs)),
      { unref: false },
    );
  }

  /** Admits the head of the queue while it fits; re-arms the one timer for the next head. */
  #drain(queue: KeyQueue): void {
    for (;;) {
      const head = queue.waiters[0];
      if (head === undefined) {
        this.#queues.delete(queue.id);
        return;
      }
      let decision: RateLimitDecision | PromiseLike<RateLimitDecision>;
      try {
        decision = this.#store.acquire({ rules: queue.rules, cost: head.cost });
      } catch (error) {
        this.#fail(head, error);
        continue;
      }
      if (isThenable(decision)) {
        queue.busy = true;
        const asked = this.#settings;
        Promise.resolve(decision).then(
          (d) => {
            queue.busy = false;
            if (this.#closed !== undefined) return;
            // Refused under limits configure() has replaced since: ask again under the new ones.
            if (!d.allowed && asked !== this.#settings) this.#drain(queue);
            else if (this.#settleHead(queue, head, d)) this.#drain(queue);
          },
          (error: unknown) => {
            queue.busy = false;
            if (queue.waiters[0] === head) this.#fail(head, error);
            if (this.#closed === undefined) this.#drain(queue);
          },
        );
        return;
      }
      if (!this.#settleHead(queue, head, decision)) return;
    }
  }

  /** True when the queue may move on to its next head. */
  #settleHead(queue: KeyQueue, head: Waiter, decision: RateLimitDecision): boolean {
    // The head may have left while an asynchronous decision was in flight.
    if (queue.waiters[0] !== head) return true;
    if (!decision.allowed) {
      // A head refused again after the time the store said it would pass is stalled (a
      // fail-closed store while its server is down, other processes taking the room): bounded,
      // or a store that refuses every call would re-arm this timer for ever. A first refusal
      // is never a stall, however long the limit makes it wait (1 per day is legitimate).
      const now = this.#clock.now();
      if (head.dueAt === undefined) head.dueAt = now + decision.retryAfterMs;
      else if (now + decision.retryAfterMs - head.dueAt > this.#settings.maxStallMs) {
        this.#fail(head, this.#refuse(queue.key, queue.scope, head.cost, decision, 'stalled'));
        return true;
      }
      this.#arm(queue, decision.retryAfterMs);
      return false;
    }
    this.#leave(head);
    this.#admitted++;
    this.#waited++;
    if (this.#onDequeued.active || rateLimitChannels.dequeued.hasSubscribers) {
      const event: RateLimitDequeuedEvent = {
        name: this.#name,
        key: queue.key,
        scope: queue.scope,
        waitedMs: this.#clock.now() - head.enqueuedAt,
      };
      this.#onDequeued.emit(event);
      if (rateLimitChannels.dequeued.hasSubscribers) rateLimitChannels.dequeued.publish(event);
    }
    if (rateLimitChannels.admitted.hasSubscribers) {
      rateLimitChannels.admitted.publish({
        name: this.#name,
        key: queue.key,
        scope: queue.scope,
        cost: head.cost,
        waitedMs: this.#clock.now() - head.enqueuedAt,
      });
    }
    head.resolve();
    return true;
  }

  #fail(waiter: Waiter, error: unknown): void {
    this.#leave(waiter);
    waiter.reject(error);
  }

  #leave(waiter: Waiter): void {
    const queue = waiter.queue;
    const index = queue.waiters.indexOf(waiter);
    if (index === -1) return;
    queue.waiters.splice(index, 1);
    this.#queued--;
    if (waiter.onAbort !== undefined) waiter.signal?.removeEventListener('abort', waiter.onAbort);
    if (queue.waiters.length === 0 && !queue.busy) {
      queue.timer?.cancel();
      queue.timer = undefined;
      this.#queues.delete(queue.id);
    }
  }

  #queueId(key: string, scope: string | undefined): string {
    // The scope's length keeps scope "a:b" + key "c" apart from scope "a" + key "b:c".
    return scope === undefined
      ? `${this.#name}:-:${key}`
      : `${this.#name}:${String(scope.length)}:${scope}:${key}`;
  }

  /** The error of a refused call, published on the `rejected` channel. */
  #refuse(
    key: string,
    scope: string | undefined,
    cost: number,
    decision: RateLimitDecision | undefined,
    reason: RateLimitedReason,
  ): RateLimitedError {
    const error = limitedError(this.#where, this.#settings, decision, reason);
    if (rateLimitChannels.rejected.hasSubscribers) {
      rateLimitChannels.rejected.publish({
        name: this.#name,
        key,
        scope,
        cost,
        reason,
        retryAfterMs: error.retryAfterMs,
      });
    }
    return error;
  }

  #emitLimited(
    key: string,
    scope: string | undefined,
    cost: number,
    retryAfterMs: number,
    action: RateLimitedEvent['action'],
  ): void {
    if (!this.#onLimited.active && !rateLimitChannels.limited.hasSubscribers) return;
    const event: RateLimitedEvent = { name: this.#name, key, scope, cost, retryAfterMs, action };
    this.#onLimited.emit(event);
    if (rateLimitChannels.limited.hasSubscribers) rateLimitChannels.limited.publish(event);
  }
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown }).then === 'function';
}

/**
 * Creates a {@link RateLimitPolicy}.
 *
 * @example
 * ```ts
 * // An API that allows 10 calls per second, spaced evenly; callers queue for their turn.
 * const api = rateLimit({ rate: 10, per: 'second', burst: 1, whenLimited: 'wait' });
 * const getUser = stack(api).wrap(fetchUser);
 *
 * // Per-user limits, answered with 429 instead of waiting:
 * const perUser = rateLimit<Req>({
 *   limits: [{ rate: 20, per: 'second' }, { rate: 1_000, per: 'minute' }],
 *   key: (req) => req.userId,
 *   whenLimited: 'reject',
 * });
 * ```
 */
export function rateLimit<I = unknown>(options: RateLimitOptions<I>): RateLimitPolicy<I> {
  return new RateLimitPolicy(options);
}

/** @deprecated Renamed {@link RateLimitPolicy} (every policy class is `<Name>Policy`); kept as an alias. */
export const RateLimiter = RateLimitPolicy;
/** @deprecated Renamed {@link RateLimitPolicy}; kept as an alias. */
export type RateLimiter<I = unknown> = RateLimitPolicy<I>;
