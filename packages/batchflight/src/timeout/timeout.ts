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

/** The settings {@link TimeoutPolicy.configure} changes while the policy runs. */
export interface TimeoutSettings {
  /** The deadline of each call started from now on, in milliseconds (> 0; `Infinity`: none). */
  readonly ms: number;
}

/** Payload of the `configured` channel: {@link TimeoutPolicy.configure} changed the deadline. */
export interface TimeoutConfiguredEvent {
  readonly name: string;
  readonly previous: TimeoutSettings;
  readonly current: TimeoutSettings;
}

/**
 * The diagnostics channels of every timeout policy (`batchflight:timeout:<event>`):
 * `timeout`, a call missed its deadline; `configured`, the deadline changed.
 */
export const timeoutChannels = {
  timeout: eventChannel<TimeoutEvent>('timeout', 'timeout'),
  configured: eventChannel<TimeoutConfiguredEvent>('timeout', 'configured'),
} as const;
const timeoutChannel = timeoutChannels.timeout;
const WHERE = 'timeout()';

/** Reaches the private #callerAborted of the owner from the helper class (set by a static block). */
let callerAbortedHook: (owner: TimeoutPolicy<never, never>, arg: TimedCall) => void;

/**
 * The calls started under one deadline: every call of a generation waits the same `ms`, so
 * its list stays in deadline order. configure() starts a new generation; the calls of the
 * old one keep their deadline and their list (and its timer) until they settle.
 */
interface Generation {
  readonly ms: number;
  readonly deadlines: DeadlineList<TimedCall>;
}

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
    readonly generation: Generation,
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
  readonly #clock: Clock;
  readonly #onTimeout = new Listeners<TimeoutEvent>();
  // Calls started under the current deadline: the same delay for all, so one timer serves them.
  #generation: Generation;
  #calls = 0;
  #timeouts = 0;
  #inFlight = 0;

  constructor(options: TimeoutOptions) {
    if (typeof options !== 'object') {
      throw new TypeError(`${WHERE}: expected an options object { ms }, got ${typeof options}.`);
    }
    knownOptions(WHERE, options, ['ms', 'name', 'clock']);
    this.name = nameOption(WHERE, options.name, 'timeout');
    this.#clock = options.clock ?? systemClock;
    this.#generation = this.#newGeneration(msOption(options.ms));
  }

  /** The deadline of the calls starting now, in milliseconds. */
  get ms(): number {
    return this.#generation.ms;
  }

  /** The settings in force. */
  get settings(): TimeoutSettings {
    return { ms: this.#generation.ms };
  }

  /**
   * Changes the deadline of the calls that start from now on; calls in flight keep the one
   * they started with. Invalid settings throw the constructor's error and change nothing
   * (`dryRun` only checks). Publishes `configured`.
   *
   * @example
   * ```ts
   * t.configure({ ms: 2_000 }); // the upstream got slower; give it more room
   * ```
   */
  configure(settings: Partial<TimeoutSettings>, options?: { readonly dryRun?: boolean }): void {
    if (typeof settings !== 'object' || (settings as unknown) === null) {
      throw new TypeError(
        `timeout(${this.name}).configure(): settings must be an object { ms }, got ${typeof settings}.`,
      );
    }
    knownOptions(WHERE, settings, ['ms']);
    if (settings.ms === undefined) return;
    const ms = msOption(settings.ms);
    if (options?.dryRun === true || ms === this.#generation.ms) return;
    const previous = this.settings;
    this.#generation = this.#newGeneration(ms);
    if (timeoutChannels.configured.hasSubscribers) {
      timeoutChannels.configured.publish({ name: this.name, previous, current: { ms } });
    }
  }

  /**
   * Wraps `next` so that each call gets the deadline. Generic over the
   * handler's types: one policy guards handlers of any input and output.
   */
  wrap<In extends I, Out extends O>(next: Handler<In, Out>): Handler<In, Out> {
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

  #newGeneration(ms: number): Generation {
    return {
      ms,
      deadlines: new DeadlineList<TimedCall>(this.#clock, (call) => {
        this.#expire(call);
      }),
    };
  }

  #start<In, Out>(next: Handler<In, Out>, input: In, ctx: CallContext): Promise<Out> {
    const generation = this.#generation;
    // No deadline (ms: Infinity): the call passes through as if the layer were not there.
    if (generation.ms === Infinity) return next(input, ctx);
    this.#calls++;
    const parentSignal = ctx.signal;
    if (parentSignal.aborted) return rejectWith(parentSignal.reason);
    const call = new TimedCall(ctx, this.#clock.now() + generation.ms, this, generation);
    const outer = new Promise<Out>((resolve, reject) => {
      call.resolve = resolve as (value: unknown) => void;
      call.reject = reject;
    });
    this.#inFlight++;
    generation.deadlines.add(call);
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
    const ms = call.generation.ms;
    const error = new TimeoutError(
      `timeout(${this.name}): the call did not settle within ${String(ms)} ms.`,
      ms,
    );
    call.reason = error;
    this.#timeouts++;
    this.#finish(call);
    call.controller?.abort(error);
    if (this.#onTimeout.active || timeoutChannel.hasSubscribers) {
      const event = { name: this.name, timeoutMs: ms };
      this.#onTimeout.emit(event);
      if (timeoutChannel.hasSubscribers) timeoutChannel.publish(event);
    }
    call.reject(error);
  }

  #finish(call: TimedCall): void {
    call.done = true;
    this.#inFlight--;
    call.generation.deadlines.delete(call);
    const signal = call.parent.signal;
    if (signal !== NEVER_ABORTED) signal.removeEventListener('abort', call);
  }
}

function msOption(value: unknown): number {
  return numberOption(WHERE, 'ms', value, { exclusive: true, allowInfinity: true });
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
