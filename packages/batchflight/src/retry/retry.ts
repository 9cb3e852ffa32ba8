/**
 * `retry()`: try again after a failure, with backoff and jitter, a shared
 * retry budget, `Retry-After` honoured, and abortable sleeps.
 *
 * Decision order after a failed attempt:
 * 1. the caller's signal aborted: stop, the rejection is `signal.reason`;
 * 2. an abort-like error (`name === 'AbortError'`) or a `CircuitOpenError`
 *    (unless `retryCircuitOpen`): stop, the error is rethrown;
 * 3. `retryOn(error, attempt)` returns false: stop;
 * 4. `maxAttempts` reached: stop;
 * 5. the budget cannot pay for a retry: stop;
 * 6. otherwise wait `Retry-After` (capped by `maxRetryAfterMs`) when the error
 *    carries one, else the backoff's delay, and try again.
 * Stopping rethrows the last error unchanged (the same object).
 */
import {
  booleanOption,
  describe,
  InvalidOptionError,
  eventChannel,
  functionOption,
  integerOption,
  knownOptions,
  Listeners,
  NEVER_ABORTED,
  numberOption,
  sleep,
  systemClock,
  toContext,
  type CallContext,
  type CallOptions,
  type Clock,
  type Handler,
  type Layer,
  type Subscription,
} from '../core/index.js';
import { CircuitOpenError } from '../circuit-breaker/index.js';
import { exponentialBackoff, toBackoff, type Backoff } from './backoff.js';
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
  /** Which errors are worth retrying. Default: all (after the built-in exclusions). */
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
  /** Retry a `CircuitOpenError` (after its `retryAfterMs`). Default false: an open circuit fails fast. */
  readonly retryCircuitOpen?: boolean;
  /** Time source of the sleeps. Default: the system clock. */
  readonly clock?: Clock;
}

/** Payload of {@link RetryPolicy.onRetry}. */
export interface RetryEvent {
  /** The error of the attempt that just failed. */
  readonly error: unknown;
  /** The attempt that failed, from 1. */
  readonly attempt: number;
  /** The wait before the next attempt, in milliseconds. */
  readonly delayMs: number;
}

/** Why a retry policy stopped. */
export type GiveUpReason = 'aborted' | 'not-retryable' | 'max-attempts' | 'budget';

/** Payload of {@link RetryPolicy.onGiveUp}. */
export interface GiveUpEvent {
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

const retryChannel = eventChannel<RetryEvent>('retry', 'retry');
const giveUpChannel = eventChannel<GiveUpEvent>('retry', 'give-up');

const WHERE = 'retry()';

/** Rejects with `error` unchanged: the wrapped call's errors pass through as they are, Error or not. */
function rejectWith(error: unknown): Promise<never> {
  // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- rethrown unchanged on purpose
  return Promise.reject(error);
}

function attemptContext(ctx: CallContext, attempt: number): RetryContext {
  return { signal: ctx.signal, scope: ctx.scope, urgent: ctx.urgent, attempt };
}
const NOT_GIVEN = Symbol('not given');

/** A retry policy: a shared {@link Layer} with a plain-function form. See {@link retry}. */
export class RetryPolicy<I = unknown, O = unknown> implements Layer<I, O> {
  readonly maxAttempts: number;
  readonly #backoff: Backoff;
  readonly #retryOn: ((error: unknown, attempt: number) => boolean) | undefined;
  readonly #budget: RetryBudget | undefined;
  readonly #maxRetryAfterMs: number;
  readonly #retryCircuitOpen: boolean;
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
      'retryOn',
      'budget',
      'maxRetryAfterMs',
      'retryCircuitOpen',
      'clock',
    ]);
    this.maxAttempts = integerOption(WHERE, 'maxAttempts', options.maxAttempts ?? 3, {
      allowInfinity: true,
    });
    this.#backoff =
      options.backoff === undefined ? exponentialBackoff() : toBackoff(WHERE, options.backoff);
    this.#retryOn =
      options.retryOn === undefined
        ? undefined
        : functionOption<(error: unknown, attempt: number) => boolean>(
            WHERE,
            'retryOn',
            options.retryOn,
          );
    const budget = options.budget ?? new RetryBudget();
    if (budget !== false && !(budget instanceof RetryBudget)) {
      throw new InvalidOptionError(
        'budget',
        `${WHERE}: option budget must be a RetryBudget from retryBudget() or false, got ${describe(budget)}.`,
      );
    }
    this.#budget = budget === false ? undefined : budget;
    this.#maxRetryAfterMs = numberOption(
      WHERE,
      'maxRetryAfterMs',
      options.maxRetryAfterMs ?? 60_000,
      { allowInfinity: true },
    );
    this.#retryCircuitOpen = booleanOption(
      WHERE,
      'retryCircuitOpen',
      options.retryCircuitOpen ?? false,
    );
    this.#clock = options.clock ?? systemClock;
  }

  /** Wraps `next` so that failed calls are retried. */
  wrap(next: Handler<I, O>): Handler<I, O> {
    return (input, ctx) => {
      this.#calls++;
      let first: Promise<O>;
      try {
        first = next(input, ctx);
      } catch (error) {
        first = rejectWith(error);
      }
      return first.then(this.#firstSucceeded, (error: unknown) =>
        this.#afterFailure(next, input, ctx, error),
      );
    };
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
    const ctx = toContext(options);
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
      budgetTokens: this.#budget?.tokens ?? Infinity,
    };
  }

  readonly #firstSucceeded = (value: O): O => {
    this.#successes++;
    this.#budget?.recordSuccess(false);
    return value;
  };

  #afterFailure(next: Handler<I, O>, input: I, ctx: CallContext, error: unknown): Promise<O> {
    const delay = this.#decide(error, 1, 0, ctx.signal);
    if (typeof delay !== 'number') return rejectWith(error);
    return this.#loop(next, input, ctx, false, error, delay);
  }

  async #run(next: Handler<I, O>, input: I, ctx: CallContext, withAttempt: boolean): Promise<O> {
    this.#calls++;
    try {
      const value = await next(input, withAttempt ? attemptContext(ctx, 1) : ctx);
      this.#firstSucceeded(value);
      return value;
    } catch (error) {
      const delay = this.#decide(error, 1, 0, ctx.signal);
      if (typeof delay !== 'number') throw error;
      return this.#loop(next, input, ctx, withAttempt, error, delay);
    }
  }

  /** Attempts 2 and later; entered after attempt 1 failed and a retry was granted. */
  async #loop(
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
      if (this.#onRetry.active) this.#onRetry.emit({ error, attempt: attempt - 1, delayMs: delay });
      if (retryChannel.hasSubscribers) {
        retryChannel.publish({ error, attempt: attempt - 1, delayMs: delay });
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
        this.#budget?.recordSuccess(true);
        return value;
      } catch (failure) {
        error = failure;
        const decided = this.#decide(error, attempt, delay, ctx.signal);
        if (typeof decided !== 'number') throw error;
        delay = decided;
      }
    }
  }

  /** The delay before the next attempt, or the reason to stop (after recording it). */
  #decide(
    error: unknown,
    attempt: number,
    previousDelayMs: number,
    signal: AbortSignal,
  ): number | GiveUpReason {
    let reason: GiveUpReason | typeof NOT_GIVEN = NOT_GIVEN;
    if (signal.aborted) reason = 'aborted';
    else if (isAbortError(error)) reason = 'aborted';
    else if (!this.#retryCircuitOpen && CircuitOpenError.is(error)) reason = 'not-retryable';
    else if (this.#retryOn !== undefined && !this.#retryOn(error, attempt)) {
      reason = 'not-retryable';
    } else if (attempt >= this.maxAttempts) reason = 'max-attempts';
    else if (this.#budget !== undefined && !this.#budget.tryAcquire()) {
      this.#budgetRefusals++;
      reason = 'budget';
    }
    if (reason !== NOT_GIVEN) {
      this.#giveUp(error, attempt, reason);
      return reason;
    }
    const hinted = retryAfterFromError(error, this.#clock.now());
    if (hinted !== undefined) return Math.min(hinted, this.#maxRetryAfterMs);
    const delay = this.#backoff.delayMs(attempt, previousDelayMs);
    return Number.isFinite(delay) && delay > 0 ? delay : 0;
  }

  #giveUp(error: unknown, attempts: number, reason: GiveUpReason): void {
    this.#failures++;
    if (this.#onGiveUp.active) this.#onGiveUp.emit({ error, attempts, reason });
    if (giveUpChannel.hasSubscribers) giveUpChannel.publish({ error, attempts, reason });
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
