/**
 * `fallback()`: answer with a substitute when the call fails: a cached or
 * default value, a degraded computation, another source.
 *
 * The caller's own abort is never replaced (the caller left; a substitute
 * would answer nobody): a call whose signal is already aborted starts
 * nothing and rejects with `signal.reason`. `when` narrows which errors are
 * replaced.
 */
import {
  executeOnce,
  eventChannel,
  functionOption,
  InvalidOptionError,
  knownOptions,
  Listeners,
  nameOption,
  refuseIfAborted,
  type CallContext,
  type CallOptions,
  type Handler,
  type Layer,
  type Subscription,
} from '../core/index.js';

/** Options of {@link fallback}: exactly one of `value` or `compute`. */
export type FallbackOptions<I, O> = (
  | {
      /** The substitute answer. */
      readonly value: O;
      readonly compute?: never;
    }
  | {
      /** Computes the substitute from the error (it may be async; what it throws is what the caller sees). */
      readonly compute: (error: unknown, input: I, ctx: CallContext) => O | Promise<O>;
      readonly value?: never;
    }
) & {
  /** Which errors to replace. Default: every error except the caller's own abort. */
  readonly when?: (error: unknown) => boolean;
  /** Shown in events; the central configuration addresses it by this. Default `'fallback'`. */
  readonly name?: string;
};

/** Payload of {@link FallbackPolicy.onFallback} and the `fallback` channel. */
export interface FallbackEvent {
  /** The policy's name. */
  readonly name: string;
  /** The error that was replaced. */
  readonly error: unknown;
}

/** Counters of a fallback policy. */
export interface FallbackStats {
  readonly calls: number;
  /** Calls answered by the substitute. */
  readonly fallbacks: number;
}

/**
 * The diagnostics channels of every fallback policy (`batchflight:fallback:<event>`):
 * `fallback`, the substitute answered for a failed call.
 */
export const fallbackChannels = {
  fallback: eventChannel<FallbackEvent>('fallback', 'fallback'),
} as const;
const fallbackChannel = fallbackChannels.fallback;
const WHERE = 'fallback()';

/** A fallback policy: a shared {@link Layer} with a plain-function form. See {@link fallback}. */
export class FallbackPolicy<I = unknown, O = unknown> implements Layer<I, O> {
  readonly name: string;
  readonly #compute: (error: unknown, input: I, ctx: CallContext) => O | Promise<O>;
  readonly #when: ((error: unknown) => boolean) | undefined;
  readonly #onFallback = new Listeners<FallbackEvent>();
  #calls = 0;
  #fallbacks = 0;

  constructor(options: FallbackOptions<I, O>) {
    if (typeof options !== 'object') {
      throw new TypeError(
        `${WHERE}: expected an options object { value } or { compute }, got ${typeof options}.`,
      );
    }
    knownOptions(WHERE, options, ['value', 'compute', 'when', 'name']);
    this.name = nameOption(WHERE, options.name, 'fallback');
    const given = options as { value?: unknown; compute?: unknown };
    const hasValue = 'value' in given;
    const hasCompute = given.compute !== undefined;
    if (hasValue === hasCompute) {
      throw new InvalidOptionError(
        hasValue ? 'compute' : 'value',
        `${WHERE}: give exactly one of value (the substitute) or compute ((error, input, ctx) => substitute), got ${hasValue ? 'both' : 'neither'}.`,
      );
    }
    if (hasCompute) {
      this.#compute = functionOption(WHERE, 'compute', given.compute);
    } else {
      const value = given.value as O;
      this.#compute = () => value;
    }
    this.#when =
      options.when === undefined
        ? undefined
        : functionOption<(error: unknown) => boolean>(WHERE, 'when', options.when);
  }

  /**
   * Wraps `next` so that its failures are answered by the substitute.
   * Generic over the handler's input; its output must be the substitute's
   * type `O` (the caller may get either).
   */
  wrap<In extends I>(next: Handler<In, O>): Handler<In, O> {
    return (input, ctx) => {
      const refused = refuseIfAborted(ctx);
      if (refused !== undefined) return refused;
      this.#calls++;
      let call: Promise<O>;
      try {
        call = next(input, ctx);
      } catch (error) {
        return this.#recover(error, input, ctx);
      }
      return call.catch((error: unknown) => this.#recover(error, input, ctx));
    };
  }

  /**
   * Runs `fn`, answering with the substitute when it fails: the plain-function form.
   *
   * @example
   * ```ts
   * const prices = await fallback({ value: [] as Price[] }).execute(() => api.prices());
   * ```
   */
  execute(fn: (ctx: CallContext) => Promise<O>, options?: CallOptions): Promise<O> {
    return executeOnce(
      this as unknown as Layer<undefined, O>,
      fn,
      options,
      `fallback(${this.name}).execute()`,
    );
  }

  /** Called each time the substitute answers. */
  onFallback(listener: (event: FallbackEvent) => void): Subscription {
    return this.#onFallback.add(listener);
  }

  stats(): FallbackStats {
    return { calls: this.#calls, fallbacks: this.#fallbacks };
  }

  async #recover(error: unknown, input: I, ctx: CallContext): Promise<O> {
    if (ctx.signal.aborted || (this.#when !== undefined && !this.#when(error))) throw error;
    this.#fallbacks++;
    if (this.#onFallback.active || fallbackChannel.hasSubscribers) {
      const event = { name: this.name, error };
      this.#onFallback.emit(event);
      if (fallbackChannel.hasSubscribers) fallbackChannel.publish(event);
    }
    return this.#compute(error, input, ctx);
  }
}

/**
 * Creates a fallback policy: a {@link Layer} for `stack(...)` and, through
 * `execute(fn, { signal })`, a plain function wrapper. Put it outermost so it
 * also answers for the errors of the layers inside (`CircuitOpenError`,
 * `TimeoutError`, `BulkheadFullError`).
 *
 * @example
 * ```ts
 * const resilient = stack(
 *   fallback({ compute: (error, id: number) => cache.getStale(id) }),
 *   retry({ maxAttempts: 3 }),
 *   circuitBreaker(),
 * ).wrap(fetchUser);
 * ```
 */
export function fallback<I = unknown, O = unknown>(
  options: FallbackOptions<I, O>,
): FallbackPolicy<I, O> {
  return new FallbackPolicy<I, O>(options);
}
