/**
 * `timeout()`: a deadline per call, without paying for it on the fast path.
 *
 * Peers create a timer and an AbortController per call and abort it on every
 * return (7–11 µs). Here:
 * - One timer per `timeout` instance, not per call. The deadline is the same
 *   for every call of an instance, so calls in flight form a FIFO list
 *   ordered by deadline; the single timer is armed for the oldest one and
 *   re-armed for the next when it fires. A call that settles unlinks itself
 *   in O(1). A burst of fast calls therefore costs no timer at all beyond the
 *   one already armed.
 * - No AbortController unless the handler reads `ctx.signal`: the context
 *   given to the inner handler is an object whose `signal` is a getter that
 *   creates the controller on first read (already aborted if the deadline or
 *   the caller's abort came first). No `fn.length` guessing.
 * - The caller's signal is linked only when it can abort (not the shared
 *   never-aborting signal), with the call object itself as the listener (no
 *   closure).
 *
 * On the deadline the caller is rejected at once with a `TimeoutError`, the
 * same object becomes the inner signal's abort reason, and the inner
 * handler's late result is discarded. The caller's own abort rejects with
 * its `signal.reason` and aborts the inner signal with that reason.
 */
import {
  ABORT_REASON,
  executeOnce,
  DeadlineList,
  eventChannel,
  knownOptions,
  Listeners,
  nameOption,
  NEVER_ABORTED,
  numberOption,
  rejectWith,
  systemClock,
  TimeoutError,
  type CallContext,
  type LazySignalContext,
  type CallOptions,
  type Clock,
  type Handler,
  type Layer,
  type Subscription,
  type DeadlineEntry,
} from '../core/index.js';

/** Options of {@link timeout}. */
export interface TimeoutOptions {
  /** The deadline of each call, in milliseconds (> 0; `Infinity` disables the layer). */
  readonly ms: number;
  /** Shown in errors and events; the central configuration addresses it by this. Default `'timeout'`. */
  readonly name?: string;
  /** Time source. Default: the system clock. */
  readonly clock?: Clock;
}

/** Payload of {@link TimeoutPolicy.onTimeout} and the `timeout` channel. */
export interface TimeoutEvent {
  /** The policy's name. */
  readonly name: string;
  readonly timeoutMs: number;
}

/** Counters of a timeout policy. */
export interface TimeoutStats {
  readonly calls: number;
  readonly timeouts: number;
  /** Calls started and not yet settled. */
  readonly inFlight: number;
}

/**
 * The diagnostics channels of every timeout policy (`batchflight:timeout:<event>`):
 * `timeout`, a call missed its deadline.
 */
export const timeoutChannels = {
  timeout: eventChannel<TimeoutEvent>('timeout', 'timeout'),
} as const;
const timeoutChannel = timeoutChannels.timeout;
const WHERE = 'timeout()';

/** Reaches the private #callerAborted of the owner from the helper class (set by a static block). */
let callerAbortedHook: (owner: TimeoutPolicy<never, never>, arg: TimedCall) => void;

/** One call in flight: the context handed to the inner handler and a node of the deadline list. */
class TimedCall implements LazySignalContext, DeadlineEntry<TimedCall> {
  prev: TimedCall | undefined = undefined;
  next: TimedCall | undefined = undefined;
  listed = false;
  /** Set once the caller's promise is settled by a deadline or the caller's abort. */
  reason: unknown = undefined;
  done = false;
  controller: AbortController | undefined = undefined;
  resolve!: (value: unknown) => void;
  reject!: (error: unknown) => void;

  constructor(
    readonly parent: CallContext,
    readonly deadline: number,
    readonly owner: TimeoutPolicy<never, never>,
  ) {}

  get signal(): AbortSignal {
    let controller = this.controller;
    if (controller === undefined) {
      controller = this.controller = new AbortController();
      if (this.reason !== undefined) controller.abort(this.reason);
    }
    return controller.signal;
  }

  /** Whether the call is over (deadline or caller's abort), without creating the signal. */
  get [ABORT_REASON](): unknown {
    return this.reason;
  }

  get scope(): string | undefined {
    return this.parent.scope;
  }

  get urgent(): boolean | undefined {
    return this.parent.urgent;
  }

  /** The caller's signal aborted (this object is its listener). */
  handleEvent(): void {
    callerAbortedHook(this.owner, this);
  }
}

/** A timeout policy: a shared {@link Layer} with a plain-function form. See {@link timeout}. */
export class TimeoutPolicy<I = unknown, O = unknown> implements Layer<I, O> {
  static {
    callerAbortedHook = (owner, arg) => {
      owner.#callerAborted(arg);
    };
  }

  readonly name: string;
  readonly ms: number;
  readonly #clock: Clock;
  readonly #onTimeout = new Listeners<TimeoutEvent>();
  // Calls in flight: every one has the same delay, so one timer serves them all.
  readonly #deadlines: DeadlineList<TimedCall>;
  #calls = 0;
  #timeouts = 0;
  #inFlight = 0;

  constructor(options: TimeoutOptions) {
    if (typeof options !== 'object') {
      throw new TypeError(`${WHERE}: expected an options object { ms }, got ${typeof options}.`);
    }
    knownOptions(WHERE, options, ['ms', 'name', 'clock']);
    this.name = nameOption(WHERE, options.name, 'timeout');
    this.ms = numberOption(WHERE, 'ms', options.ms, { exclusive: true, allowInfinity: true });
    this.#clock = options.clock ?? systemClock;
    this.#deadlines = new DeadlineList<TimedCall>(this.#clock, (call) => {
      this.#expire(call);
    });
  }

  /**
   * Wraps `next` so that each call gets the deadline. Generic over the
   * handler's types: one policy guards handlers of any input and output.
   */
  wrap<In extends I, Out extends O>(next: Handler<In, Out>): Handler<In, Out> {
    if (this.ms === Infinity) return next;
    return (input, ctx) => this.#start(next, input, ctx);
  }

  /**
   * Runs `fn` with the deadline: the plain-function form. Read `signal` only
   * when you pass it on; reading it is what creates the AbortController.
   *
   * @example
   * ```ts
   * const body = await t.execute(({ signal }) => fetch(url, { signal }), { signal: request.signal });
   * ```
   */
  execute<T>(fn: (ctx: CallContext) => Promise<T>, options?: CallOptions): Promise<T> {
    return executeOnce(
      this as unknown as Layer<undefined, T>,
      fn,
      options,
      `timeout(${this.name}).execute()`,
    );
  }

  /** Called when a call misses its deadline. */
  onTimeout(listener: (event: TimeoutEvent) => void): Subscription {
    return this.#onTimeout.add(listener);
  }

  stats(): TimeoutStats {
    return { calls: this.#calls, timeouts: this.#timeouts, inFlight: this.#inFlight };
  }

  #start<In, Out>(next: Handler<In, Out>, input: In, ctx: CallContext): Promise<Out> {
    this.#calls++;
    const parentSignal = ctx.signal;
    if (parentSignal.aborted) return rejectWith(parentSignal.reason);
    const call = new TimedCall(ctx, this.#clock.now() + this.ms, this);
    const outer = new Promise<Out>((resolve, reject) => {
      call.resolve = resolve as (value: unknown) => void;
      call.reject = reject;
    });
    this.#inFlight++;
    this.#deadlines.add(call);
    if (parentSignal !== NEVER_ABORTED) parentSignal.addEventListener('abort', call);
    let inner: Promise<Out>;
    try {
      inner = next(input, call);
    } catch (error) {
      inner = rejectWith(error);
    }
    inner.then(
      (value) => {
        this.#settle(call, true, value);
      },
      (error: unknown) => {
        this.#settle(call, false, error);
      },
    );
    return outer;
  }

  #settle(call: TimedCall, ok: boolean, result: unknown): void {
    if (call.done) return; // already rejected by the deadline or the caller's abort
    this.#finish(call);
    if (ok) call.resolve(result);
    else call.reject(result);
  }

  /** Called by a call's abort listener. */
  #callerAborted(call: TimedCall): void {
    if (call.done) return;
    const reason: unknown = call.parent.signal.reason;
    call.reason = reason;
    this.#finish(call);
    call.controller?.abort(reason);
    call.reject(reason);
  }

  #expire(call: TimedCall): void {
    const error = new TimeoutError(
      `timeout(${this.name}): the call did not settle within ${String(this.ms)} ms.`,
      this.ms,
    );
    call.reason = error;
    this.#timeouts++;
    this.#finish(call);
    call.controller?.abort(error);
    if (this.#onTimeout.active || timeoutChannel.hasSubscribers) {
      const event = { name: this.name, timeoutMs: this.ms };
      this.#onTimeout.emit(event);
      if (timeoutChannel.hasSubscribers) timeoutChannel.publish(event);
    }
    call.reject(error);
  }

  #finish(call: TimedCall): void {
    call.done = true;
    this.#inFlight--;
    this.#deadlines.delete(call);
    const signal = call.parent.signal;
    if (signal !== NEVER_ABORTED) signal.removeEventListener('abort', call);
  }
}

/**
 * Creates a timeout policy: a {@link Layer} for `stack(...)` and, through
 * `execute(fn, { signal })`, a plain function wrapper. The timer is unref'd:
 * a pending deadline never holds the process open.
 *
 * @example
 * ```ts
 * const t = timeout({ ms: 500 });
 * const getUser = t.wrap((id: number, { signal }) => api.user(id, { signal }));
 * try { await getUser(1, toContext()); } catch (e) { if (TimeoutError.is(e)) metrics.slow++; }
 * ```
 */
export function timeout<I = unknown, O = unknown>(options: TimeoutOptions): TimeoutPolicy<I, O> {
  return new TimeoutPolicy<I, O>(options);
}
