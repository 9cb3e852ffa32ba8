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
 *
 * Cost model: a call without signal, timeout or listener allocates one flight
 * record and one promise on a miss and nothing on a hit (joiners receive the
 * flight's promise itself). AbortControllers exist only for flights that can
 * be aborted (started by a caller that can leave, or with `flightTimeoutMs`);
 * per-caller bookkeeping exists only for callers that can leave.
 */
import {
  type CallContext,
  type Clock,
  type Handler,
  InvalidOptionError,
  type Layer,
  Listeners,
  NEVER_ABORTED,
  type Subscription,
  type Timer,
  TimeoutError,
  describe,
  eventChannel,
  functionOption,
  knownOptions,
  numberOption,
  systemClock,
  argumentsKey,
  stableKey,
} from '../core/index.js';
import { FlightReentryError } from './errors.js';

/** Options of {@link SingleFlight}. */
export interface SingleFlightOptions {
  /** Time source of the timeouts. Default: the system clock. */
  readonly clock?: Clock | undefined;
  /**
   * Default longest wait of one caller, in milliseconds. A caller whose wait
   * exceeds it rejects alone with a `TimeoutError`; the flight goes on for the
   * others (and is aborted if it was the last one). Per call: `run(…, { timeoutMs })`.
   * Default: no limit.
   */
  readonly timeoutMs?: number | undefined;
  /**
   * Longest run of one execution, in milliseconds. When it passes, the
   * execution's signal aborts with a `TimeoutError`, every caller of the
   * flight rejects with that same error, and the key is free for a new
   * flight. Default: no limit.
   */
  readonly flightTimeoutMs?: number | undefined;
  /** A name carried by every event and diagnostics message, to tell instances apart. */
  readonly name?: string | undefined;
}

/** Per-call options of {@link SingleFlight.run}. */
export interface FlightRunOptions {
  /** Lets this caller leave: it rejects alone with `signal.reason`. */
  readonly signal?: AbortSignal | undefined;
  /** Partition (tenant, security domain): two scopes never share a flight. */
  readonly scope?: string | undefined;
  /** Longest wait of this caller in milliseconds; overrides the instance's `timeoutMs`. */
  readonly timeoutMs?: number | undefined;
}

/** What {@link SingleFlight.runShared} resolves to. */
export interface SharedResult<T> {
  readonly value: T;
  /** True when another caller joined the execution that produced `value`. */
  readonly shared: boolean;
}

/** Counters of a {@link SingleFlight}; see {@link SingleFlight.stats}. */
export interface SingleFlightStats {
  /** Calls that joined a flight already running. */
  readonly hits: number;
  /** Calls that started a flight (executions). */
  readonly misses: number;
  /** Flights that settled with an error (a flight timeout included). */
  readonly errors: number;
  /** Flights started and not yet settled. */
  readonly active: number;
  /** `hits / (hits + misses)`, 0 before the first call. */
  readonly hitRate: number;
}

/** Payload of {@link SingleFlight.onShared}: a caller joined a running flight. */
export interface FlightSharedEvent {
  readonly name: string | undefined;
  readonly key: string;
  readonly scope: string | undefined;
  /** Callers of the flight so far, this one included (so at least 2). */
  readonly callers: number;
}

/** Payload of {@link SingleFlight.onSettled}: a flight produced its outcome. */
export interface FlightSettledEvent {
  readonly name: string | undefined;
  readonly key: string;
  readonly scope: string | undefined;
  /** Callers the flight had in all, including those that left. */
  readonly callers: number;
  readonly ok: boolean;
  /** The error when `ok` is false. */
  readonly error: unknown;
  /**
   * Run time in milliseconds on the instance's clock; measured only for flights
   * started while someone listened (a hook or a diagnostics subscriber).
   */
  readonly durationMs: number | undefined;
}

/** Payload of the `start` diagnostics channel. */
export interface FlightStartEvent {
  readonly name: string | undefined;
  readonly key: string;
  readonly scope: string | undefined;
}

/** Payload of the `leave` and `abort` diagnostics channels. */
export interface FlightLeaveEvent {
  readonly name: string | undefined;
  readonly key: string;
  readonly scope: string | undefined;
  /** `signal.reason` of the caller, or the `TimeoutError` of its wait. */
  readonly reason: unknown;
}

/**
 * Diagnostics channels, `batchflight:singleflight:<event>`:
 * `start` (a flight started), `shared` (a caller joined), `leave` (a caller
 * left by abort or timeout), `abort` (the last caller left; the execution's
 * signal was aborted), `settled` (a flight produced its outcome).
 */
export const singleFlightChannels = {
  start: eventChannel<FlightStartEvent>('singleflight', 'start'),
  shared: eventChannel<FlightSharedEvent>('singleflight', 'shared'),
  leave: eventChannel<FlightLeaveEvent>('singleflight', 'leave'),
  abort: eventChannel<FlightLeaveEvent>('singleflight', 'abort'),
  settled: eventChannel<FlightSettledEvent>('singleflight', 'settled'),
} as const;

/** Options of {@link SingleFlight.layer}. */
export interface SingleFlightLayerOptions<I> {
  /** The key of an input. Default: the tagged stable encoding of the input (`stableKey`). */
  readonly key?: ((input: I) => string) | undefined;
}

// The function of a flight: `fn(signal)` for run(), `fn.apply(thisArg, args)` for singleflight().
type FlightFn = (...args: never[]) => unknown;
/**
 * A key as stored: the string key, or, for the default key of a `singleflight()`
 * function called with one number, the number itself (hashing a number is
 * cheaper than building and hashing `n42`). Every string key is tagged, so a
 * number can never equal one.
 */
type MapKey = string | number;
type Table<V> = Map<MapKey, Flight<V>>;

class Flight<V> {
  promise: Promise<V> | undefined = undefined;
  controller: AbortController | undefined = undefined;
  /** Every caller the flight had, leaders and joiners, including those that left. */
  callers = 1;
  /** Attached callers that may still leave (they have a signal or a timeout). */
  detachable = 0;
  /** A caller that can never leave is attached: the execution is never aborted by departures. */
  pinned: boolean;
  settled = false;
  startedAt: number | undefined = undefined;
  timer: Timer | undefined = undefined;

  constructor(
    readonly mapKey: MapKey,
    readonly scope: string | undefined,
    readonly table: Table<V>,
    readonly fn: FlightFn,
    readonly thisArg: unknown,
    readonly args: readonly unknown[] | undefined,
    pinned: boolean,
  ) {
    this.pinned = pinned;
  }

  /** The key as callers know it (`n42` for a number key). */
  get key(): string {
    return typeof this.mapKey === 'number' ? `n${String(this.mapKey)}` : this.mapKey;
  }
}

const WHERE = 'new SingleFlight()';
const NO_OPTIONS: FlightRunOptions = Object.freeze({});

// Gives singleflight() the allocation-free path of the class without making it public.
let runApply: <V>(
  flight: SingleFlight<V>,
  key: MapKey,
  scope: string | undefined,
  fn: FlightFn,
  thisArg: unknown,
  args: readonly unknown[],
) => Promise<V>;
let leaveFlight: <V>(owner: SingleFlight<V>, flight: Flight<V>, reason: unknown) => void;

/**
 * A group of flights: concurrent calls with the same key (and scope) share
 * one execution. See the module comment for the full contract.
 *
 * @typeParam V - the values this group's functions produce.
 * @example
 * ```ts
 * const flights = new SingleFlight<User>({ timeoutMs: 2_000 });
 * // 100 concurrent calls, one query:
 * const user = await flights.run(`user:${id}`, (signal) => db.findUser(id, { signal }), {
 *   signal: request.signal,
 *   scope: tenantId,
 * });
 * ```
 */
export class SingleFlight<V = unknown> {
  readonly #clock: Clock;
  readonly #timeoutMs: number | undefined;
  readonly #flightTimeoutMs: number | undefined;
  readonly #name: string | undefined;
  readonly #flights: Table<V> = new Map();
  readonly #scoped = new Map<string, Table<V>>();
  readonly #onShared = new Listeners<FlightSharedEvent>();
  readonly #onSettled = new Listeners<FlightSettledEvent>();
  #hits = 0;
  #misses = 0;
  #errors = 0;
  #active = 0;

  static {
    runApply = (flight, key, scope, fn, thisArg, args) =>
      flight.#runPinned(flight.#table(scope), key, scope, fn, thisArg, args);
    leaveFlight = (owner, flight, reason) => {
      owner.#leave(flight, reason);
    };
  }

  constructor(options: SingleFlightOptions = {}) {
    if (typeof options !== 'object' || (options as unknown) === null) {
      throw new TypeError(`${WHERE}: options must be an object, got ${describe(options)}.`);
    }
    knownOptions(WHERE, options, ['clock', 'timeoutMs', 'flightTimeoutMs', 'name']);
    this.#clock = clockOption(options.clock);
    this.#timeoutMs = timeoutOption(WHERE, 'timeoutMs', options.timeoutMs);
    this.#flightTimeoutMs = timeoutOption(WHERE, 'flightTimeoutMs', options.flightTimeoutMs);
    if (options.name !== undefined && typeof options.name !== 'string') {
      throw new InvalidOptionError(
        'name',
        `${WHERE}: option name must be a string, got ${describe(options.name)}.`,
      );
    }
    this.#name = options.name;
  }

  /**
   * Runs `fn` for `key`, or joins the flight of `key` already running, and
   * resolves to the flight's value (or rejects with its error).
   *
   * `fn` receives the execution's signal: it aborts when every caller has left
   * or the flight timed out. A caller's own `signal` only lets that caller go.
   *
   * @param key - identifies the call; equal keys (in the same scope) share.
   * @param fn - the work; a synchronous throw becomes the flight's rejection.
   * @example
   * ```ts
   * const config = await flights.run('config', (signal) => fetchConfig({ signal }));
   * ```
   */
  run<T extends V>(
    key: string,
    fn: (signal: AbortSignal) => Promise<T> | T,
    options?: FlightRunOptions,
  ): Promise<T> {
    if (typeof key !== 'string') return Promise.reject(keyError(key));
    if (typeof fn !== 'function') {
      return Promise.reject(
        new TypeError(`SingleFlight#run(): fn must be a function, got ${describe(fn)}.`),
      );
    }
    if (options === undefined) {
      if (this.#timeoutMs === undefined) {
        return this.#runPinned(
          this.#flights,
          key,
          undefined,
          fn,
          undefined,
          undefined,
        ) as Promise<T>;
      }
      return this.#runWith(key, fn, NO_OPTIONS) as Promise<T>;
    }
    return this.#runWith(key, fn, options) as Promise<T>;
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
    fn: (signal: AbortSignal) => Promise<T> | T,
    options?: FlightRunOptions,
  ): Promise<SharedResult<T>> {
    const promise = this.run(key, fn, options);
    // run() started or joined the flight synchronously, so it is the one in the table now.
    const flight = this.#lookup(key, options?.scope);
    return promise.then((value) => ({
      value,
      shared: flight !== undefined && flight.callers > 1,
    }));
  }

  /**
   * A {@link Layer} that coalesces the calls of a {@link Handler} by the key
   * of their input, within `ctx.scope`; each caller may leave through
   * `ctx.signal`, and the wrapped handler receives the execution's signal.
   *
   * @example
   * ```ts
   * const getUser = stack(flights.layer<number, User>({ key: (id) => `user:${id}` }), retry).wrap(loadUser);
   * await getUser(42, toContext({ scope: 'tenant-a' }));
   * ```
   */
  layer<I, O extends V>(options: SingleFlightLayerOptions<I> = {}): Layer<I, O> {
    knownOptions('SingleFlight#layer()', options, ['key']);
    const keyOf =
      options.key === undefined
        ? (input: I) => stableKey(input, 'input')
        : functionOption<(input: I) => string>('SingleFlight#layer()', 'key', options.key);
    return {
      wrap: (next: Handler<I, O>): Handler<I, O> => {
        functionOption('SingleFlight#layer().wrap()', 'next', next);
        return (input: I, ctx: CallContext): Promise<O> => {
          let key: string;
          try {
            key = keyOf(input);
          } catch (error) {
            return rejectWith(error);
          }
          const fn = (signal: AbortSignal): Promise<O> =>
            next(input, signal === ctx.signal ? ctx : { ...ctx, signal });
          return ctx.signal === NEVER_ABORTED && ctx.scope === undefined
            ? this.run(key, fn)
            : this.run(key, fn, ctx);
        };
      },
    };
  }

  /**
   * Detaches the running flight of `key` (in `scope`), if any: the next call
   * starts a new flight. Callers of the detached flight still receive its
   * outcome, and it can never remove its successor. Returns whether a flight
   * was detached.
   */
  forget(key: string, scope?: string): boolean {
    const table = scope === undefined ? this.#flights : this.#scoped.get(scope);
    if (table === undefined || !(table.delete(key) || table.delete(numberKey(key)))) return false;
    if (scope !== undefined && table.size === 0) this.#scoped.delete(scope);
    return true;
  }

  /** Detaches every running flight; see {@link forget}. */
  forgetAll(): void {
    this.#flights.clear();
    this.#scoped.clear();
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

  #table(scope: string | undefined): Table<V> {
    if (scope === undefined) return this.#flights;
    let table = this.#scoped.get(scope);
    if (table === undefined) {
      table = new Map();
      this.#scoped.set(scope, table);
    }
    return table;
  }

  #lookup(key: MapKey, scope: string | undefined): Flight<V> | undefined {
    return (scope === undefined ? this.#flights : this.#scoped.get(scope))?.get(key);
  }

  /** A caller that can never leave: joiners get the flight's promise itself. */
  #runPinned(
    table: Table<V>,
    key: MapKey,
    scope: string | undefined,
    fn: FlightFn,
    thisArg: unknown,
    args: readonly unknown[] | undefined,
  ): Promise<V> {
    let flight = table.get(key);
    if (flight === undefined) {
      flight = this.#start(table, key, scope, fn, thisArg, args, true);
    } else {
      if (flight.promise === undefined)
        return Promise.reject(new FlightReentryError(flight.key, scope));
      flight.pinned = true;
      this.#joined(flight);
    }
    return flight.promise as Promise<V>;
  }

  #runWith(key: string, fn: FlightFn, options: FlightRunOptions): Promise<V> {
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
    const table = this.#table(scope);
    if (signal === undefined && timeoutMs === undefined) {
      return this.#runPinned(table, key, scope, fn, undefined, undefined);
    }
    let flight = table.get(key);
    if (flight === undefined) {
      flight = this.#start(table, key, scope, fn, undefined, undefined, false);
    } else {
      if (flight.promise === undefined)
        return Promise.reject(new FlightReentryError(flight.key, scope));
      this.#joined(flight);
    }
    flight.detachable++;
    return new Waiter(this, flight, signal, timeoutMs, this.#clock).promise;
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
    pinned: boolean,
  ): Flight<V> {
    const flight = new Flight<V>(key, scope, table, fn, thisArg, args, pinned);
    // Only a flight that can be aborted pays for a controller: one a caller may leave, or one with a deadline.
    if (!pinned || this.#flightTimeoutMs !== undefined) flight.controller = new AbortController();
    this.#misses++;
    this.#active++;
    table.set(key, flight);
    if (this.#onSettled.active || singleFlightChannels.settled.hasSubscribers) {
      flight.startedAt = this.#clock.now();
    }
    if (singleFlightChannels.start.hasSubscribers) {
      singleFlightChannels.start.publish({ name: this.#name, key: flight.key, scope });
    }
    const execution = this.#execute(flight);
    flight.promise =
      this.#flightTimeoutMs === undefined
        ? execution
        : this.#withDeadline(flight, execution, this.#flightTimeoutMs);
    return flight;
  }

  async #execute(flight: Flight<V>): Promise<V> {
    let value: V;
    try {
      const fn = flight.fn as (...args: readonly unknown[]) => V | Promise<V>;
      value = await (flight.args === undefined
        ? fn(flight.controller === undefined ? NEVER_ABORTED : flight.controller.signal)
        : fn.apply(flight.thisArg, flight.args as unknown[]));
    } catch (error) {
      this.#settle(flight, false, error);
      throw error;
    }
    this.#settle(flight, true, undefined);
    return value;
  }

  #withDeadline(flight: Flight<V>, execution: Promise<V>, timeoutMs: number): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      flight.timer = this.#clock.setTimer(() => {
        const error = new TimeoutError(
          `SingleFlight: the flight of key ${JSON.stringify(flight.key)} ran longer than flightTimeoutMs (${String(timeoutMs)} ms).`,
          timeoutMs,
        );
        this.#settle(flight, false, error);
        flight.controller?.abort(error);
        reject(error);
      }, timeoutMs);
      execution.then(resolve, reject);
    });
  }

  #settle(flight: Flight<V>, ok: boolean, error: unknown): void {
    if (flight.settled) return;
    flight.settled = true;
    this.#active--;
    if (!ok) this.#errors++;
    flight.timer?.cancel();
    this.#detach(flight);
    const channel = singleFlightChannels.settled;
    if (flight.startedAt === undefined && !this.#onSettled.active && !channel.hasSubscribers) {
      return;
    }
    const event: FlightSettledEvent = {
      name: this.#name,
      key: flight.key,
      scope: flight.scope,
      callers: flight.callers,
      ok,
      error,
      durationMs: flight.startedAt === undefined ? undefined : this.#clock.now() - flight.startedAt,
    };
    this.#onSettled.emit(event);
    if (channel.hasSubscribers) channel.publish(event);
  }

  /** Removes `flight` from its table if it is still the one there (identity-checked). */
  #detach(flight: Flight<V>): void {
    const table = flight.table;
    if (table.get(flight.mapKey) !== flight) return;
    table.delete(flight.mapKey);
    if (
      flight.scope !== undefined &&
      table.size === 0 &&
      this.#scoped.get(flight.scope) === table
    ) {
      this.#scoped.delete(flight.scope);
    }
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
    this.#detach(flight);
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
}

/**
 * One caller that can leave (it has a signal or a timeout). It listens to its
 * signal as an EventListener object, so no closure is made for the listener,
 * and it removes the listener and cancels its timer whichever way it ends.
 */
class Waiter<V> {
  readonly promise: Promise<V>;
  #resolve!: (value: V) => void;
  #reject!: (reason: unknown) => void;
  #done = false;
  #timer: Timer | undefined = undefined;

  constructor(
    private readonly owner: SingleFlight<V>,
    private readonly flight: Flight<V>,
    private readonly signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    clock: Clock,
  ) {
    this.promise = new Promise<V>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    (flight.promise as Promise<V>).then(
      (value) => {
        if (this.#finish()) this.#resolve(value);
      },
      (error: unknown) => {
        if (this.#finish()) this.#reject(error);
      },
    );
    signal?.addEventListener('abort', this, { once: true });
    if (timeoutMs !== undefined) {
      this.#timer = clock.setTimer(() => {
        this.#leave(
          new TimeoutError(
            `SingleFlight: waited ${String(timeoutMs)} ms for the flight of key ${JSON.stringify(flight.key)} without an outcome.`,
            timeoutMs,
          ),
        );
      }, timeoutMs);
    }
  }

  /** The abort listener (EventListener object protocol). */
  handleEvent(): void {
    this.#leave(this.signal?.reason);
  }

  #leave(reason: unknown): void {
    if (!this.#finish()) return;
    this.#reject(reason);
    leaveFlight(this.owner, this.flight, reason);
  }

  /** Ends the wait once; false if it had already ended. */
  #finish(): boolean {
    if (this.#done) return false;
    this.#done = true;
    this.signal?.removeEventListener('abort', this);
    this.#timer?.cancel();
    return true;
  }
}

/** Options of {@link singleflight}. */
export interface SingleflightOptions<A extends readonly unknown[]> extends SingleFlightOptions {
  /**
   * The key of a call from its arguments. Default: `argumentsKey(args)`, the
   * core's tagged stable encoding (`1` ≠ `"1"`, `{ a: undefined }` ≠ `{}`, key
   * order irrelevant, Date, BigInt, Map, Set, typed arrays) with a fast path
   * for plain data; a function, symbol or cyclic argument is a `TypeError`
   * naming the argument.
   */
  readonly key?: ((...args: A) => string) | undefined;
  /**
   * The scope of a call from its arguments (a tenant id); calls in two
   * scopes never share. Default: one scope for all calls.
   */
  readonly scope?: ((...args: A) => string | undefined) | undefined;
  /**
   * The group to run in, to share it with other functions or read its
   * `stats()`. Default: a new `SingleFlight` built from the other options.
   */
  readonly flight?: SingleFlight | undefined;
}

/** What {@link singleflight} returns: `fn`'s signature, plus its group. */
export type SingleflightFunction<A extends readonly unknown[], R> = ((
  ...args: A
) => Promise<Awaited<R>>) & {
  /** The group the calls run in: `stats()`, `forget()`, hooks. */
  readonly flight: SingleFlight;
};

/**
 * Wraps `fn` so that concurrent calls with equal arguments share one
 * execution. The wrapper has `fn`'s parameters and returns a promise of its
 * result; `this` is passed through.
 *
 * @example
 * ```ts
 * const getUser = singleflight(async (id: number) => db.findUser(id));
 * await Promise.all([getUser(1), getUser(1), getUser(2)]); // two queries
 * getUser.flight.stats(); // { hits: 1, misses: 2, ... }
 * ```
 */
export function singleflight<A extends readonly unknown[], R>(
  fn: (...args: A) => R,
  options: SingleflightOptions<A> = {},
): SingleflightFunction<A, R> {
  const where = 'singleflight()';
  functionOption(where, 'fn', fn);
  if (typeof options !== 'object' || (options as unknown) === null) {
    throw new TypeError(`${where}: options must be an object, got ${describe(options)}.`);
  }
  const { key, scope, flight: given, ...rest } = options;
  knownOptions(where, options, [
    'key',
    'scope',
    'flight',
    'clock',
    'timeoutMs',
    'flightTimeoutMs',
    'name',
  ]);
  const keyFn =
    key === undefined ? undefined : functionOption<(...args: A) => string>(where, 'key', key);
  const scopeFn =
    scope === undefined
      ? undefined
      : functionOption<(...args: A) => string | undefined>(where, 'scope', scope);
  if (given !== undefined) {
    if (!(given instanceof SingleFlight)) {
      throw new InvalidOptionError(
        'flight',
        `${where}: option flight must be a SingleFlight, got ${describe(given)}.`,
      );
    }
    if (Object.values(rest).some((v) => v !== undefined)) {
      throw new InvalidOptionError(
        'flight',
        `${where}: give either option flight or the options of a new SingleFlight (${Object.keys(rest).join(', ')}), not both.`,
      );
    }
  }
  const group = given ?? new SingleFlight(rest);
  // Number keys stay numbers only in a group of our own: nobody else can run() `n42` in it.
  const numbers = given === undefined;
  const wrapped = function (this: unknown, ...args: A): Promise<Awaited<R>> {
    let callKey: MapKey;
    let callScope: string | undefined;
    try {
      if (keyFn !== undefined) callKey = keyFn(...args);
      else if (numbers && args.length === 1 && typeof args[0] === 'number') callKey = args[0];
      else callKey = argumentsKey(args);
      callScope = scopeFn === undefined ? undefined : scopeFn(...args);
    } catch (error) {
      return rejectWith(error);
    }
    if (typeof callKey !== 'string' && keyFn !== undefined) {
      return Promise.reject(keyError(callKey));
    }
    return runApply(group, callKey, callScope, fn, this, args) as Promise<Awaited<R>>;
  };
  Object.defineProperty(wrapped, 'name', { value: fn.name, configurable: true });
  return Object.assign(wrapped, { flight: group });
}

/** The number a key such as `n42` stands for (see {@link MapKey}), or the key itself. */
function numberKey(key: string): MapKey {
  if (key.charCodeAt(0) !== 0x6e /* n */) return key;
  const n = Number(key.slice(1));
  return `n${String(n)}` === key ? n : key;
}

/** Rejects with exactly what was thrown, Error or not: user code decides what its errors are. */
function rejectWith<T>(reason: unknown): Promise<T> {
  // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- passes a thrown value on unchanged
  return Promise.reject(reason);
}

function keyError(key: unknown): TypeError {
  return new TypeError(
    `SingleFlight: a key must be a string, got ${describe(key)}. ` +
      'Use argumentsKey()/stableKey() to turn values into a key.',
  );
}

function timeoutOption(where: string, option: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const ms = numberOption(where, option, value, { min: 0, exclusive: true, allowInfinity: true });
  return ms === Infinity ? undefined : ms;
}

function clockOption(value: Clock | undefined): Clock {
  if (value === undefined) return systemClock;
  // Typed as a Clock, but it comes from untyped callers too.
  const clock = value as Partial<Clock> | null;
  if (
    clock === null ||
    typeof clock !== 'object' ||
    typeof clock.now !== 'function' ||
    typeof clock.setTimer !== 'function'
  ) {
    throw new InvalidOptionError(
      'clock',
      `${WHERE}: option clock must be a Clock (an object with now() and setTimer()), got ${describe(value)}.`,
    );
  }
  return clock as Clock;
}
