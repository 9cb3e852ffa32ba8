/**
 * Single flight: concurrent identical calls share one execution.
 *
 * The contract, stated once:
 *
 * - A *flight* is one execution of a function for a (key, scope). The first
 *   caller starts it; callers that arrive while it runs *join* it and receive
 *   the very same outcome: the same value, or the same error object. A
 *   synchronous throw is an outcome like any other (a rejection).
 * - Nothing is kept after the flight settles: the next call starts a new one.
 *   Removal is identity-checked: a flight only ever removes itself, so after
 *   `forget(key)` a new flight can start and the old one finishing never
 *   deletes it (the bug of golang/go#31420).
 * - Cancellation is reference-counted. A caller that passes a signal (or a
 *   `timeoutMs`) can leave: it alone rejects with `signal.reason` (or a
 *   `TimeoutError`). The execution's own signal is aborted only when the last
 *   caller has left; at that moment the flight is removed, so a newcomer never
 *   joins an aborted flight but starts a fresh one. A caller without a signal
 *   can never leave, so it keeps the execution alive.
 * - Scopes never share: a key in scope `a` and the same key in scope `b` are
 *   two flights.
 * - A call from inside a flight's function into a flight that waits for it
 *   (re-entry) is refused with `FlightReentryError`; see `flight.ts` for what
 *   is detected.
 * - `close()` refuses new calls with `ClosedError` and resolves once every
 *   running execution has settled; at its deadline (`timeoutMs`, or its
 *   `signal` aborting) it is forced: every caller still waiting rejects with a
 *   `ClosedError` and the executions' signals abort.
 *
 * Cost model: a call without signal, timeout or listener allocates one flight
 * record and its promise on a miss and nothing on a hit (joiners receive the
 * flight's promise itself). AbortControllers exist only for flights that can
 * be aborted (started by a caller that can leave, or with `flightTimeoutMs`);
 * per-caller bookkeeping exists only for callers that can leave.
 */
import {
  type Clock,
  ClosedError,
  booleanOption,
  type Layer,
  Listeners,
  NEVER_ABORTED,
  type Subscription,
  TimeoutError,
  describe,
  knownOptions,
} from '../core/index.js';
import {
  type FlightCloseEvent,
  type FlightSettledEvent,
  type FlightSharedEvent,
  singleFlightChannels,
} from './events.js';
import {
  Calling,
  Flight,
  type FlightFn,
  type MapKey,
  type Table,
  addWait,
  callFlight,
  flightOf,
  flightStorage,
  reentryOf,
} from './flight.js';
import { GroupClose } from './close.js';
import { FlightTables } from './tables.js';
import { flightLayer } from './layer.js';
import {
  type FlightContext,
  type FlightRunOptions,
  GROUP_OPTIONS,
  type SharedResult,
  type SingleFlightCloseOptions,
  type SingleFlightLayerOptions,
  type SingleFlightOptions,
  type SingleFlightStats,
  checkRunOptions,
  clockOption,
  closeOptions,
  keyError,
  rejectWith,
  stringOption,
  timeoutOption,
} from './options.js';
import { type LeaveFlight, Waiter } from './waiter.js';

const WHERE = 'new SingleFlight()';
const NO_OPTIONS: FlightRunOptions = Object.freeze({});

/**
 * Gives singleflight() the allocation-free path of the class without making it public.
 *
 * @internal
 */
export let runApply: <V>(
  group: SingleFlight<V>,
  key: MapKey,
  scope: string | undefined,
  fn: FlightFn,
  thisArg: unknown,
  args: readonly unknown[],
) => Promise<V>;

/**
 * A group of flights: concurrent calls with the same key (and scope) share
 * one execution. See the module comment for the full contract.
 *
 * @typeParam V - the values this group's functions produce.
 * @example
 * ```ts
 * const flights = new SingleFlight<User>({ timeoutMs: 2_000, name: 'users' });
 * // 100 concurrent calls, one query:
 * const user = await flights.run(`user:${id}`, ({ signal }) => db.findUser(id, { signal }), {
 *   signal: request.signal,
 *   scope: tenantId,
 * });
 * await flights.close({ timeoutMs: 5_000 });
 * ```
 */
export class SingleFlight<V = unknown> {
  readonly #clock: Clock;
  readonly #timeoutMs: number | undefined;
  readonly #flightTimeoutMs: number | undefined;
  readonly #name: string | undefined;
  /** `SingleFlight` or `SingleFlight "name"`: how messages name this group. */
  readonly #label: string;
  readonly #storage: ReturnType<typeof flightStorage> | undefined;
  readonly #tables = new FlightTables<V>();
  /** `#tables.root`, read on the hot path without the extra hop. */
  readonly #flights: Table<V> = this.#tables.root;
  readonly #onShared = new Listeners<FlightSharedEvent>();
  readonly #onSettled = new Listeners<FlightSettledEvent>();
  readonly #leaveFlight: LeaveFlight<V> = (flight, reason) => {
    this.#leave(flight, reason);
  };
  #hits = 0;
  #misses = 0;
  #errors = 0;
  #active = 0;
  #abandoned = 0;
  readonly #close = new GroupClose(
    (reason) => {
      this.#abandonAll(reason);
    },
    () => {
      if (singleFlightChannels.close.hasSubscribers) {
        const event: FlightCloseEvent = {
          name: this.#name,
          forced: this.#close.forced,
          abandoned: this.#abandoned,
        };
        singleFlightChannels.close.publish(event);
      }
    },
  );

  static {
    runApply = (group, key, scope, fn, thisArg, args) =>
      group.#runPinned(
        group.#tables.table(scope),
        key,
        scope,
        fn,
        thisArg,
        args,
        Calling.Apply,
        group.#storage?.getStore(),
      );
  }

  constructor(options: SingleFlightOptions = {}) {
    if (typeof options !== 'object' || (options as unknown) === null) {
      throw new TypeError(`${WHERE}: options must be an object, got ${describe(options)}.`);
    }
    knownOptions(WHERE, options, GROUP_OPTIONS);
    this.#clock = clockOption(WHERE, options.clock);
    this.#timeoutMs = timeoutOption(WHERE, 'timeoutMs', options.timeoutMs);
    this.#flightTimeoutMs = timeoutOption(WHERE, 'flightTimeoutMs', options.flightTimeoutMs);
    this.#name = stringOption(WHERE, 'name', options.name);
    this.#label =
      this.#name === undefined ? 'SingleFlight' : `SingleFlight ${JSON.stringify(this.#name)}`;
    const detect =
      options.detectAsyncReentry !== undefined &&
      booleanOption(WHERE, 'detectAsyncReentry', options.detectAsyncReentry);
    this.#storage = detect ? flightStorage() : undefined;
  }

  /** The `name` option, if one was given. */
  get name(): string | undefined {
    return this.#name;
  }

  /**
   * Runs `fn` for `key`, or joins the flight of `key` already running, and
   * resolves to the flight's value (or rejects with its error).
   *
   * `fn` receives the flight's {@link FlightContext}: `ctx.signal` is the
   * execution's signal, which aborts when every caller has left, the flight
   * timed out or a close was forced; a caller's own `signal` only lets that
   * caller go. Pass `ctx` on as the options of calls the function makes, so a
   * call back into this flight is refused instead of waiting for itself.
   * Unknown option names are an `InvalidOptionError`.
   *
   * @param key - identifies the call; equal keys (in the same scope) share.
   * @param fn - the work; a synchronous throw becomes the flight's rejection.
   * @example
   * ```ts
   * const config = await flights.run('config', ({ signal }) => fetchConfig({ signal }));
   * ```
   */
  run<T extends V>(
    key: string,
    fn: (ctx: FlightContext) => Promise<T> | T,
    options?: FlightRunOptions,
  ): Promise<T> {
    if (typeof key !== 'string') return Promise.reject(keyError('SingleFlight#run()', key));
    if (typeof fn !== 'function') {
      return Promise.reject(
        new TypeError(`SingleFlight#run(): fn must be a function, got ${describe(fn)}.`),
      );
    }
    const from = this.#storage?.getStore();
    if (options === undefined) {
      return (
        this.#timeoutMs === undefined
          ? this.#runPinned(
              this.#flights,
              key,
              undefined,
              fn,
              undefined,
              undefined,
              Calling.Context,
              from,
            )
          : this.#runWith(key, fn, NO_OPTIONS, undefined, undefined, Calling.Context, from)
      ) as Promise<T>;
    }
    if (typeof options !== 'object' || (options as unknown) === null) {
      return Promise.reject(
        new TypeError(`SingleFlight#run(): options must be an object, got ${describe(options)}.`),
      );
    }
    // A context a flight handed out (run()'s or a layer handler's ctx, or one spread from it) is taken as it is.
    const handedOut = flightOf(options);
    if (handedOut === undefined) {
      const error = checkRunOptions(options);
      if (error !== undefined) return Promise.reject(error);
    }
    return this.#runWith(
      key,
      fn,
      options,
      undefined,
      undefined,
      Calling.Context,
      handedOut ?? from,
    ) as Promise<T>;
  }

  /**
   * Like {@link run}, and tells whether the value was shared: `shared` is
   * true when another caller joined the execution that produced it.
   *
   * @example
   * ```ts
   * const { value, shared } = await flights.runShared('config', () => fetchConfig());
   * ```
   */
  runShared<T extends V>(
    key: string,
    fn: (ctx: FlightContext) => Promise<T> | T,
    options?: FlightRunOptions,
  ): Promise<SharedResult<T>> {
    const promise = this.run(key, fn, options);
    // run() started or joined the flight synchronously, so it is the one in the table now.
    const flight = this.#tables.lookup(key, options?.scope);
    return promise.then((value) => ({
      value,
      shared: flight !== undefined && flight.callers > 1,
    }));
  }

  /**
   * A {@link Layer} that coalesces the calls of a `Handler` by the key
   * of their input, within `ctx.scope`; each caller may leave through
   * `ctx.signal`. The wrapped handler receives the leader's context with the
   * execution's signal (and the flight's mark, so a call that comes back
   * into the same flight through this context is a `FlightReentryError`).
   *
   * @example
   * ```ts
   * const getUser = stack(flights.layer({ key: (id: number) => `user:${id}` }), retry).wrap(loadUser);
   * await getUser(42, toContext({ scope: 'tenant-a' }));
   * ```
   */
  layer<I, O extends V>(options: SingleFlightLayerOptions<I> = {}): Layer<I, O> {
    return flightLayer<I, O>(options, (key, next, input, ctx) => {
      // The context carries more than run() options (urgent, a retry's attempt, …): pass only ours.
      const signal = ctx.signal === NEVER_ABORTED ? undefined : ctx.signal;
      const from = flightOf(ctx) ?? this.#storage?.getStore();
      return (
        signal === undefined && ctx.scope === undefined && this.#timeoutMs === undefined
          ? this.#runPinned(
              this.#flights,
              key,
              undefined,
              next,
              ctx,
              [input],
              Calling.Handler,
              from,
            )
          : this.#runWith(
              key,
              next,
              { signal, scope: ctx.scope },
              ctx,
              [input],
              Calling.Handler,
              from,
            )
      ) as Promise<O>;
    });
  }

  /**
   * Detaches the running flight of `key` (in `scope`), if any: the next call
   * starts a new flight. Callers of the detached flight still receive its
   * outcome, and it can never remove its successor. Returns whether a flight
   * was detached.
   *
   * @throws TypeError when `key` (or `scope`) is not a string.
   */
  forget(key: string, scope?: string): boolean {
    if (typeof key !== 'string') throw keyError('SingleFlight#forget()', key);
    if (scope !== undefined && typeof scope !== 'string') {
      throw new TypeError(
        `SingleFlight#forget(): scope must be a string or undefined, got ${describe(scope)}.`,
      );
    }
    return this.#tables.forget(key, scope);
  }

  /** Detaches every running flight; see {@link forget}. */
  forgetAll(): void {
    this.#tables.forgetAll();
  }

  /**
   * Closes the group: new calls reject with `ClosedError`, and the returned
   * promise resolves once every running execution has settled (its callers
   * got its outcome). The close turns forced when `signal` aborts (or already
   * has) or `timeoutMs` passes: every caller still waiting rejects with a
   * `ClosedError` (its `cause` the signal's reason or a `TimeoutError`), the
   * executions' signals abort, and the promise resolves. An execution whose
   * signal cannot abort (started only by callers that cannot leave, without
   * `flightTimeoutMs`) is abandoned: its result is dropped.
   *
   * Idempotent: every call returns the same promise; a later call's signal or
   * deadline can still force a close in progress. The deadline's timer keeps
   * the process alive until it fires.
   *
   * @example
   * ```ts
   * process.once('SIGTERM', () => void flights.close({ timeoutMs: 5_000 }));
   * ```
   */
  close(options: SingleFlightCloseOptions = {}): Promise<void> {
    let signal: AbortSignal | undefined;
    let timeoutMs: number | undefined;
    try {
      ({ signal, timeoutMs } = closeOptions(`${this.#label}#close()`, options));
    } catch (error) {
      return rejectWith(error);
    }
    return this.#close.begin(signal, timeoutMs, this.#clock, this.#label, this.#active === 0);
  }

  /** Same as `close()`: a graceful close without a deadline. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** The counters since construction or the last {@link resetStats}. */
  stats(): SingleFlightStats {
    const calls = this.#hits + this.#misses;
    return {
      hits: this.#hits,
      misses: this.#misses,
      errors: this.#errors,
      active: this.#active,
      hitRate: calls === 0 ? 0 : this.#hits / calls,
    };
  }

  /** Zeroes hits, misses and errors (`active` is a gauge and stays). */
  resetStats(): void {
    this.#hits = 0;
    this.#misses = 0;
    this.#errors = 0;
  }

  /**
   * Calls `listener` each time a caller joins a running flight.
   *
   * @example
   * ```ts
   * using _ = flights.onShared(({ key, callers }) => metrics.coalesced.inc({ key }));
   * ```
   */
  onShared(listener: (event: FlightSharedEvent) => void): Subscription {
    return this.#onShared.add(listener);
  }

  /**
   * Calls `listener` each time a flight produces its outcome.
   *
   * @example
   * ```ts
   * flights.onSettled(({ key, ok, callers }) => log.debug({ key, ok, callers }));
   * ```
   */
  onSettled(listener: (event: FlightSettledEvent) => void): Subscription {
    return this.#onSettled.add(listener);
  }

  // --- internals -----------------------------------------------------------

  /** A caller that can never leave: joiners get the flight's promise itself. */
  #runPinned(
    table: Table<V>,
    key: MapKey,
    scope: string | undefined,
    fn: FlightFn,
    thisArg: unknown,
    args: readonly unknown[] | undefined,
    calling: Calling,
    from: Flight<unknown> | undefined,
  ): Promise<V> {
    if (this.#close.closed) return Promise.reject(this.#closedError());
    let flight = table.get(key);
    if (flight === undefined) {
      flight = this.#start(table, key, scope, fn, thisArg, args, calling, true, from);
    } else {
      const reentry = reentryOf(flight, from, undefined);
      if (reentry !== undefined) return Promise.reject(reentry);
      flight.pinned = true;
      this.#joined(flight);
    }
    return flight.promise;
  }

  #runWith(
    key: string,
    fn: FlightFn,
    options: FlightRunOptions,
    thisArg: unknown,
    args: readonly unknown[] | undefined,
    calling: Calling,
    from: Flight<unknown> | undefined,
  ): Promise<V> {
    if (this.#close.closed) return Promise.reject(this.#closedError());
    const signal = options.signal === NEVER_ABORTED ? undefined : options.signal;
    const scope = options.scope;
    let timeoutMs = this.#timeoutMs;
    if (options.timeoutMs !== undefined) {
      try {
        timeoutMs = timeoutOption('SingleFlight#run()', 'timeoutMs', options.timeoutMs);
      } catch (error) {
        return rejectWith(error);
      }
    }
    if (scope !== undefined && typeof scope !== 'string') {
      return Promise.reject(
        new TypeError(`SingleFlight#run(): scope must be a string, got ${describe(scope)}.`),
      );
    }
    if (signal !== undefined) {
      if (!(signal instanceof AbortSignal)) {
        return Promise.reject(
          new TypeError(
            `SingleFlight#run(): signal must be an AbortSignal, got ${describe(signal)}.`,
          ),
        );
      }
      if (signal.aborted) return Promise.reject(signal.reason as Error);
    }
    const table = this.#tables.table(scope);
    if (signal === undefined && timeoutMs === undefined) {
      return this.#runPinned(table, key, scope, fn, thisArg, args, calling, from);
    }
    let flight = table.get(key);
    if (flight === undefined) {
      flight = this.#start(table, key, scope, fn, thisArg, args, calling, false, from);
    } else {
      const reentry = reentryOf(flight, from, signal);
      if (reentry !== undefined) return Promise.reject(reentry);
      this.#joined(flight);
    }
    flight.detachable++;
    return new Waiter(this.#leaveFlight, flight, signal, timeoutMs, this.#clock, this.#label)
      .promise;
  }

  #joined(flight: Flight<V>): void {
    this.#hits++;
    flight.callers++;
    if (this.#onShared.active || singleFlightChannels.shared.hasSubscribers) {
      const event: FlightSharedEvent = {
        name: this.#name,
        key: flight.key,
        scope: flight.scope,
        callers: flight.callers,
      };
      this.#onShared.emit(event);
      if (singleFlightChannels.shared.hasSubscribers) singleFlightChannels.shared.publish(event);
    }
  }

  #start(
    table: Table<V>,
    key: MapKey,
    scope: string | undefined,
    fn: FlightFn,
    thisArg: unknown,
    args: readonly unknown[] | undefined,
    calling: Calling,
    pinned: boolean,
    from: Flight<unknown> | undefined,
  ): Flight<V> {
    const flight = new Flight<V>(key, scope, table, fn, thisArg, args, pinned);
    // Only a flight that can be aborted pays for a controller: one a caller may leave, or one with a deadline.
    if (!pinned || this.#flightTimeoutMs !== undefined) flight.controller = new AbortController();
    flight.promise = new Promise<V>((resolve, reject) => {
      flight.resolve = resolve;
      flight.reject = reject;
    });
    this.#misses++;
    this.#active++;
    this.#tables.link(flight);
    table.set(key, flight);
    if (from !== undefined) addWait(from, flight as Flight<unknown>);
    if (this.#onSettled.active || singleFlightChannels.settled.hasSubscribers) {
      flight.startedAt = this.#clock.now();
    }
    if (singleFlightChannels.start.hasSubscribers) {
      singleFlightChannels.start.publish({ name: this.#name, key: flight.key, scope });
    }
    const deadlineMs = this.#flightTimeoutMs;
    if (deadlineMs !== undefined) {
      flight.timer = this.#clock.setTimer(() => {
        const error = new TimeoutError(
          `${this.#label}: the flight of key ${JSON.stringify(flight.key)} ran longer than flightTimeoutMs (${String(deadlineMs)} ms).`,
          deadlineMs,
        );
        this.#finish(flight, false, error);
        flight.controller?.abort(error);
      }, deadlineMs);
    }
    flight.starting = true;
    void this.#execute(flight, calling);
    flight.starting = false;
    return flight;
  }

  /** Runs the function; never rejects (the outcome goes to the flight's promise). */
  async #execute(flight: Flight<V>, calling: Calling): Promise<void> {
    let value: V;
    try {
      value = await (this.#storage === undefined
        ? callFlight(flight, calling)
        : this.#storage.run(flight as Flight<unknown>, callFlight, flight, calling));
    } catch (error) {
      this.#finish(flight, false, error);
      return;
    }
    this.#finish(flight, true, value);
  }

  /** Settles `flight` with its first outcome; later ones (after a deadline or a forced close) are dropped. */
  #finish(flight: Flight<V>, ok: boolean, outcome: unknown): void {
    if (flight.settled) return;
    this.#settle(flight, ok, ok ? undefined : outcome);
    if (ok) flight.resolve(outcome as V);
    else flight.reject(outcome);
  }

  #settle(flight: Flight<V>, ok: boolean, error: unknown): void {
    flight.settled = true;
    this.#active--;
    if (!ok) this.#errors++;
    flight.timer?.cancel();
    this.#tables.detach(flight);
    this.#tables.unlink(flight);
    const channel = singleFlightChannels.settled;
    if (flight.startedAt !== undefined || this.#onSettled.active || channel.hasSubscribers) {
      const event: FlightSettledEvent = {
        name: this.#name,
        key: flight.key,
        scope: flight.scope,
        callers: flight.callers,
        ok,
        error,
        durationMs:
          flight.startedAt === undefined ? undefined : this.#clock.now() - flight.startedAt,
      };
      this.#onSettled.emit(event);
      if (channel.hasSubscribers) channel.publish(event);
    }
    if (this.#active === 0) this.#close.idle();
  }

  /** A caller that could leave did (abort or timeout); the last one out aborts the execution. */
  #leave(flight: Flight<V>, reason: unknown): void {
    flight.detachable--;
    if (singleFlightChannels.leave.hasSubscribers) {
      singleFlightChannels.leave.publish({
        name: this.#name,
        key: flight.key,
        scope: flight.scope,
        reason,
      });
    }
    if (flight.settled || flight.pinned || flight.detachable > 0) return;
    // The last caller left: free the key first, so nobody can join an aborted flight.
    this.#tables.detach(flight);
    if (singleFlightChannels.abort.hasSubscribers) {
      singleFlightChannels.abort.publish({
        name: this.#name,
        key: flight.key,
        scope: flight.scope,
        reason,
      });
    }
    flight.controller?.abort(reason);
  }

  /** The forced close: every running flight settles with a `ClosedError` and its signal aborts. */
  #abandonAll(reason: unknown): void {
    this.#tables.forEachRunning((flight) => {
      this.#abandoned++;
      const error = new ClosedError(
        `${this.#label}: close() was forced while the flight of key ${JSON.stringify(flight.key)} ran; it was abandoned.`,
        { cause: reason },
      );
      this.#finish(flight, false, error);
      flight.controller?.abort(error);
    });
  }

  #closedError(): ClosedError {
    return new ClosedError(`${this.#label}: closed; close() was called, so no new call is taken.`);
  }
}
