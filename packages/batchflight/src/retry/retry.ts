/**
 * `retry()`: try again after a failure, with backoff and jitter, a shared
 * retry budget, `Retry-After` honoured, and abortable sleeps.
 *
 * Decision order after a failed attempt:
 * 1. the caller's signal aborted: stop, the rejection is `signal.reason`;
 * 2. `isRetryable(error, attempt)` returns false: stop, the error is
 *    rethrown. The default, {@link defaultIsRetryable}, refuses abort-like
 *    errors (`name === 'AbortError'`) and errors that ask to fail fast
 *    (`failFast: true`, as `CircuitOpenError` carries) unless
 *    `retryCircuitOpen`; retry imports no other capability's error;
 * 3. `retryOn(error, attempt)` returns false: stop;
 * 4. `maxAttempts` reached: stop;
 * 5. the budget cannot pay for a retry: stop;
 * 6. otherwise wait `Retry-After` (capped by `maxRetryAfterMs`) when the error
 *    carries one, else the backoff's delay, and try again.
 * Stopping rethrows the last error unchanged (the same object). A call whose
 * signal is already aborted makes no attempt and rejects with `signal.reason`.
 */
import {
  booleanOption,
  callOptions,
  describe,
  exponentialBackoff,
  InvalidOptionError,
  eventChannel,
  functionOption,
  integerOption,
  isFailFast,
  knownOptions,
  Listeners,
  nameOption,
  NEVER_ABORTED,
  numberOption,
  refuseIfAborted,
  rejectWith,
  sleep,
  toBackoff,
  type Backoff,
  systemClock,
  toContext,
  type CallContext,
  type CallOptions,
  type Clock,
  type Handler,
  type Layer,
  type Subscription,
} from '../core/index.js';
import { RetryBudget } from './budget.js';
import { isAbortError, retryAfterFromError } from './errors.js';

/** Options of {@link retry}. */
export interface RetryOptions {
  /** Attempts in total, the first included (so 3 means up to 2 retries). `Infinity` allowed. Default 3. */
  readonly maxAttempts?: number;
  /**
   * Delay before each retry: a {@link Backoff}, a function
   * `(attempt, previousDelayMs) => ms`, or a constant number of milliseconds.
   * Default `exponentialBackoff()` (100 ms doubling, full jitter, 30 s cap).
   */
  readonly backoff?: Backoff | ((attempt: number, previousDelayMs: number) => number) | number;
  /**
   * Whether an error is worth retrying at all. Default
   * {@link defaultIsRetryable}: not an abort error, and not an error that
   * asks to fail fast (`CircuitOpenError`) unless `retryCircuitOpen`.
   * Replacing it replaces those exclusions (the caller's own abort always stops).
   */
  readonly isRetryable?: (error: unknown, attempt: number) => boolean;
  /** A further filter after `isRetryable`: both must say yes. Default: none. */
  readonly retryOn?: (error: unknown, attempt: number) => boolean;
  /**
   * A {@link RetryBudget} (share one between policies to share the bucket), or
   * `false` for none. Default: a budget of this policy's own with the AWS SDK
   * defaults (500 tokens, 5 per retry, 1 back per success), so the calls of
   * one policy can never turn an outage into a retry storm.
   */
  readonly budget?: RetryBudget | false;
  /** Longest `Retry-After` wait honoured, in milliseconds; longer hints are capped. Default 60 000. */
  readonly maxRetryAfterMs?: number;
  /**
   * Retry a `CircuitOpenError` (after its `retryAfterMs`), or any error with
   * `failFast: true`. Default false: an open circuit fails fast. Read by the
   * default `isRetryable` only.
   */
  readonly retryCircuitOpen?: boolean;
  /** Shown in events; the central configuration addresses it by this. Default `'retry'`. */
  readonly name?: string;
  /** Time source of the sleeps. Default: the system clock. */
  readonly clock?: Clock;
}

/** Payload of {@link RetryPolicy.onRetry} and the `retry` channel. */
export interface RetryEvent {
  /** The policy's name. */
  readonly name: string;
  /** The error of the attempt that just failed. */
  readonly error: unknown;
  /** The attempt that failed, from 1. */
  readonly attempt: number;
  /** The wait before the next attempt, in milliseconds. */
  readonly delayMs: number;
}

/** Why a retry policy stopped. */
export type GiveUpReason = 'aborted' | 'not-retryable' | 'max-attempts' | 'budget';

/** Payload of {@link RetryPolicy.onGiveUp} and the `give-up` channel. */
export interface GiveUpEvent {
  /** The policy's name. */
  readonly name: string;
  /** The last error, the one rethrown to the caller. */
  readonly error: unknown;
  /** Attempts made. */
  readonly attempts: number;
  readonly reason: GiveUpReason;
}

/** Counters of a retry policy. */
export interface RetryStats {
  /** Calls that entered the policy. */
  readonly calls: number;
  /** Calls that ended in a value. */
  readonly successes: number;
  /** Retries made (attempts after the first). */
  readonly retries: number;
  /** Calls that ended in an error. */
  readonly failures: number;
  /** Retries refused by the budget. */
  readonly budgetRefusals: number;
  /** Tokens left in the budget (`Infinity` without a budget). */
  readonly budgetTokens: number;
}

/** What the function given to {@link RetryPolicy.execute} receives. */
export interface RetryContext extends CallContext {
  /** The attempt being made, from 1. */
  readonly attempt: number;
}

/**
 * The settings {@link RetryPolicy.configure} changes while the policy runs (and
 * {@link RetryPolicy.settings} shows, the backoff as a {@link Backoff}).
 */
export interface RetrySettings {
  /** Attempts in total, the first included. `Infinity` allowed. */
  readonly maxAttempts: number;
  /** Delay before each retry, as {@link RetryOptions.backoff} takes it. */
  readonly backoff: Backoff | ((attempt: number, previousDelayMs: number) => number) | number;
  /** Longest `Retry-After` wait honoured, in milliseconds. */
  readonly maxRetryAfterMs: number;
  /** The {@link RetryBudget} retries draw from, or `false` for none. */
  readonly budget: RetryBudget | false;
}

/** Payload of the `configured` channel: {@link RetryPolicy.configure} changed the settings. */
export interface RetryConfiguredEvent {
  readonly name: string;
  readonly previous: RetrySettings;
  readonly current: RetrySettings;
}

/**
 * The diagnostics channels of every retry policy (`batchflight:retry:<event>`):
 * `retry`, a failed attempt will be retried; `give-up`, a call ended in an error;
 * `configured`, the settings changed.
 */
export const retryChannels = {
  retry: eventChannel<RetryEvent>('retry', 'retry'),
  giveUp: eventChannel<GiveUpEvent>('retry', 'give-up'),
  configured: eventChannel<RetryConfiguredEvent>('retry', 'configured'),
} as const;
const retryChannel = retryChannels.retry;
const giveUpChannel = retryChannels.giveUp;

const WHERE = 'retry()';

/**
 * The default `isRetryable` of {@link retry}: every error except abort-like
 * ones (`name === 'AbortError'`) and, unless `retryCircuitOpen`, those that
 * ask to fail fast (`failFast: true`: `CircuitOpenError`).
 *
 * @example
 * ```ts
 * retry({ isRetryable: (error, attempt) => defaultIsRetryable(error) && !isClientError(error) });
 * ```
 */
export function defaultIsRetryable(error: unknown, retryCircuitOpen = false): boolean {
  return !isAbortError(error) && (retryCircuitOpen || !isFailFast(error));
}

function attemptContext(ctx: CallContext, attempt: number): RetryContext {
  return { signal: ctx.signal, scope: ctx.scope, urgent: ctx.urgent, attempt };
}
const NOT_GIVEN = Symbol('not given');

/**
 * The settings in force, swapped as one object by configure(). A call reads them once when
 * it starts and keeps them to its end: its attempts, delays and budget do not change under it.
 */
interface Settings {
  readonly maxAttempts: number;
  readonly backoff: Backoff;
  readonly maxRetryAfterMs: number;
  readonly budget: RetryBudget | undefined;
}

function maxAttemptsOption(value: unknown): number {
  return integerOption(WHERE, 'maxAttempts', value, { allowInfinity: true });
}

function maxRetryAfterOption(value: unknown): number {
  return numberOption(WHERE, 'maxRetryAfterMs', value, { allowInfinity: true });
}

function budgetOption(value: unknown): RetryBudget | undefined {
  if (value !== false && !(value instanceof RetryBudget)) {
    throw new InvalidOptionError(
      'budget',
      `${WHERE}: option budget must be a RetryBudget from retryBudget() or false, got ${describe(value)}.`,
    );
  }
  return value === false ? undefined : value;
}

/** A retry policy: a shared {@link Layer} with a plain-function form. See {@link retry}. */
export class RetryPolicy<I = unknown, O = unknown> implements Layer<I, O> {
  readonly name: string;
  #settings: Settings;
  readonly #isRetryable: (error: unknown, attempt: number) => boolean;
  readonly #retryOn: ((error: unknown, attempt: number) => boolean) | undefined;
  readonly #clock: Clock;
  readonly #onRetry = new Listeners<RetryEvent>();
  readonly #onGiveUp = new Listeners<GiveUpEvent>();
  #calls = 0;
  #successes = 0;
  #retries = 0;
  #failures = 0;
  #budgetRefusals = 0;

  constructor(options: RetryOptions = {}) {
    knownOptions(WHERE, options, [
      'maxAttempts',
      'backoff',
      'isRetryable',
      'retryOn',
      'budget',
      'maxRetryAfterMs',
      'retryCircuitOpen',
      'name',
      'clock',
    ]);
    this.name = nameOption(WHERE, options.name, 'retry');
    const maxAttempts = maxAttemptsOption(options.maxAttempts ?? 3);
    const backoff =
      options.backoff === undefined ? exponentialBackoff() : toBackoff(WHERE, options.backoff);
    this.#retryOn =
      options.retryOn === undefined
        ? undefined
        : functionOption<(error: unknown, attempt: number) => boolean>(
            WHERE,
            'retryOn',
            options.retryOn,
          );
    const budget = budgetOption(options.budget ?? new RetryBudget());
    const maxRetryAfterMs = maxRetryAfterOption(options.maxRetryAfterMs ?? 60_000);
    this.#settings = { maxAttempts, backoff, maxRetryAfterMs, budget };
    const retryCircuitOpen = booleanOption(
      WHERE,
      'retryCircuitOpen',
      options.retryCircuitOpen ?? false,
    );
    this.#isRetryable =
      options.isRetryable === undefined
        ? (error) => defaultIsRetryable(error, retryCircuitOpen)
        : functionOption<(error: unknown, attempt: number) => boolean>(
            WHERE,
            'isRetryable',
            options.isRetryable,
          );
    this.#clock = options.clock ?? systemClock;
  }

  /** Attempts in total for the calls starting now (see {@link configure}). */
  get maxAttempts(): number {
    return this.#settings.maxAttempts;
  }

  /** The settings in force. */
  get settings(): RetrySettings {
    const { maxAttempts, backoff, maxRetryAfterMs, budget } = this.#settings;
    return { maxAttempts, backoff, maxRetryAfterMs, budget: budget ?? false };
  }

  /**
   * Changes attempts, backoff, the `Retry-After` cap and the budget for the calls that start
   * from now on; a call in flight keeps the settings it started with to its last attempt. To
   * resize a budget itself (for every policy sharing it) use {@link RetryBudget.configure}.
   * Settings left out keep their value; invalid ones throw the constructor's error and
   * change nothing (`dryRun` only checks). Publishes `configured`.
   *
   * @example
   * ```ts
   * policy.configure({ maxAttempts: 1 }); // the upstream is drowning: stop retrying for now
   * ```
   */
  configure(settings: Partial<RetrySettings>, options?: { readonly dryRun?: boolean }): void {
    if (typeof settings !== 'object' || (settings as unknown) === null) {
      throw new TypeError(
        `retry(${this.name}).configure(): settings must be an object of maxAttempts, backoff, maxRetryAfterMs, budget, got ${describe(settings)}.`,
      );
    }
    knownOptions(WHERE, settings, ['maxAttempts', 'backoff', 'maxRetryAfterMs', 'budget']);
    const current = this.#settings;
    const next: Settings = {
      maxAttempts:
        settings.maxAttempts === undefined
          ? current.maxAttempts
          : maxAttemptsOption(settings.maxAttempts),
      backoff:
        settings.backoff === undefined ? current.backoff : toBackoff(WHERE, settings.backoff),
      maxRetryAfterMs:
        settings.maxRetryAfterMs === undefined
          ? current.maxRetryAfterMs
          : maxRetryAfterOption(settings.maxRetryAfterMs),
      budget: settings.budget === undefined ? current.budget : budgetOption(settings.budget),
    };
    if (options?.dryRun === true) return;
    const previous = this.settings;
    this.#settings = next;
    if (retryChannels.configured.hasSubscribers) {
      retryChannels.configured.publish({ name: this.name, previous, current: this.settings });
    }
  }

  /**
   * Wraps `next` so that failed calls are retried. Generic over the
   * handler's types: one policy retries handlers of any input and output.
   */
  wrap<In extends I, Out extends O>(next: Handler<In, Out>): Handler<In, Out> {
    const inner = next as unknown as Handler<I, O>;
    return ((input: I, ctx: CallContext) => {
      const refused = refuseIfAborted(ctx);
      if (refused !== undefined) return refused;
      this.#calls++;
      const settings = this.#settings;
      let first: Promise<O>;
      try {
        first = inner(input, ctx);
      } catch (error) {
        first = rejectWith(error);
      }
      // The success path allocates no closure: its refill goes to the budget in force.
      return first.then(this.#firstSucceeded, (error: unknown) =>
        this.#afterFailure(inner, input, ctx, error, settings),
      );
    }) as unknown as Handler<In, Out>;
  }

  /**
   * Runs `fn` with retries: the plain-function form.
   *
   * @example
   * ```ts
   * const user = await policy.execute(({ signal }) => fetchUser(42, { signal }), { signal });
   * ```
   */
  execute<T>(fn: (ctx: RetryContext) => Promise<T>, options?: CallOptions): Promise<T> {
    try {
      callOptions(`retry(${this.name}).execute()`, options);
    } catch (error) {
      return rejectWith(error);
    }
    const ctx = toContext(options);
    const refused = refuseIfAborted(ctx);
    if (refused !== undefined) return refused;
    const handler = (_: unknown, attemptCtx: CallContext): Promise<T> =>
      fn(attemptCtx as RetryContext);
    return (this as unknown as RetryPolicy<unknown, T>).#run(handler, undefined, ctx, true);
  }

  /** Called after each failed attempt that will be retried. */
  onRetry(listener: (event: RetryEvent) => void): Subscription {
    return this.#onRetry.add(listener);
  }

  /** Called when a call ends in an error (the one rethrown). */
  onGiveUp(listener: (event: GiveUpEvent) => void): Subscription {
    return this.#onGiveUp.add(listener);
  }

  stats(): RetryStats {
    return {
      calls: this.#calls,
      successes: this.#successes,
      retries: this.#retries,
      failures: this.#failures,
      budgetRefusals: this.#budgetRefusals,
      budgetTokens: this.#settings.budget?.tokens ?? Infinity,
    };
  }

  readonly #firstSucceeded = (value: O): O => {
    this.#successes++;
    this.#settings.budget?.recordSuccess(false);
    return value;
  };

  #afterFailure(
    next: Handler<I, O>,
    input: I,
    ctx: CallContext,
    error: unknown,
    settings: Settings,
  ): Promise<O> {
    const delay = this.#decide(settings, error, 1, 0, ctx.signal);
    if (typeof delay !== 'number') return rejectWith(error);
    return this.#loop(settings, next, input, ctx, false, error, delay);
  }

  async #run(next: Handler<I, O>, input: I, ctx: CallContext, withAttempt: boolean): Promise<O> {
    this.#calls++;
    const settings = this.#settings;
    try {
      const value = await next(input, withAttempt ? attemptContext(ctx, 1) : ctx);
      this.#firstSucceeded(value);
      return value;
    } catch (error) {
      const delay = this.#decide(settings, error, 1, 0, ctx.signal);
      if (typeof delay !== 'number') throw error;
      return this.#loop(settings, next, input, ctx, withAttempt, error, delay);
    }
  }

  /** Attempts 2 and later; entered after attempt 1 failed and a retry was granted. */
  async #loop(
    settings: Settings,
    next: Handler<I, O>,
    input: I,
    ctx: CallContext,
    withAttempt: boolean,
    firstError: unknown,
    firstDelay: number,
  ): Promise<O> {
    let error = firstError;
    let delay = firstDelay;
    for (let attempt = 2; ; attempt++) {
      this.#retries++;
      if (this.#onRetry.active || retryChannel.hasSubscribers) {
        const event = { name: this.name, error, attempt: attempt - 1, delayMs: delay };
        this.#onRetry.emit(event);
        if (retryChannel.hasSubscribers) retryChannel.publish(event);
      }
      try {
        // The shared never-aborting signal gets no listener: thousands of sleeping calls would pile them up on it.
        await sleep(
          delay,
          ctx.signal === NEVER_ABORTED
            ? { clock: this.#clock }
            : { clock: this.#clock, signal: ctx.signal },
        );
      } catch (abortReason) {
        this.#giveUp(abortReason, attempt - 1, 'aborted');
        throw abortReason;
      }
      try {
        const value = await next(input, withAttempt ? attemptContext(ctx, attempt) : ctx);
        this.#successes++;
        settings.budget?.recordSuccess(true);
        return value;
      } catch (failure) {
        error = failure;
        const decided = this.#decide(settings, error, attempt, delay, ctx.signal);
        if (typeof decided !== 'number') throw error;
        delay = decided;
      }
    }
  }

  /** The delay before the next attempt, or the reason to stop (after recording it). */
  #decide(
    settings: Settings,
    error: unknown,
    attempt: number,
    previousDelayMs: number,
    signal: AbortSignal,
  ): number | GiveUpReason {
    let reason: GiveUpReason | typeof NOT_GIVEN = NOT_GIVEN;
    if (signal.aborted) reason = 'aborted';
    else if (!this.#isRetryable(error, attempt)) {
      reason = isAbortError(error) ? 'aborted' : 'not-retryable';
    } else if (this.#retryOn !== undefined && !this.#retryOn(error, attempt)) {
      reason = 'not-retryable';
    } else if (attempt >= settings.maxAttempts) reason = 'max-attempts';
    else if (settings.budget !== undefined && !settings.budget.tryAcquire()) {
      this.#budgetRefusals++;
      reason = 'budget';
    }
    if (reason !== NOT_GIVEN) {
      this.#giveUp(error, attempt, reason);
      return reason;
    }
    const hinted = retryAfterFromError(error, this.#clock.now());
    if (hinted !== undefined) return Math.min(hinted, settings.maxRetryAfterMs);
    const delay = settings.backoff.delayMs(attempt, previousDelayMs);
    return Number.isFinite(delay) && delay > 0 ? delay : 0;
  }

  #giveUp(error: unknown, attempts: number, reason: GiveUpReason): void {
    this.#failures++;
    if (!this.#onGiveUp.active && !giveUpChannel.hasSubscribers) return;
    const event = { name: this.name, error, attempts, reason };
    this.#onGiveUp.emit(event);
    if (giveUpChannel.hasSubscribers) giveUpChannel.publish(event);
  }
}

/**
 * Creates a retry policy: a {@link Layer} for `stack(...)` and, through
 * `execute(fn, { signal })`, a plain function wrapper.
 *
 * Never retried: the caller's own abort (the rejection is `signal.reason`),
 * abort errors, and `CircuitOpenError` unless `retryCircuitOpen` is set (an
 * open breaker exists to fail fast). Every sleep listens to the caller's
 * signal. On giving up the last error is rethrown unchanged.
 *
 * @example
 * ```ts
 * const budget = retryBudget();
 * const policy = retry({ maxAttempts: 4, backoff: exponentialBackoff({ initialDelayMs: 50 }), budget });
 * const getUser = policy.wrap((id: number, { signal }) => api.user(id, { signal }));
 * ```
 */
export function retry<I = unknown, O = unknown>(options?: RetryOptions): RetryPolicy<I, O> {
  return new RetryPolicy<I, O>(options);
}
