/**
 * `DistributedFlight`: one execution per key across every process that
 * shares a {@link FlightStore} (Redis for a fleet, `MemoryFlightStore` in one
 * process). The engine knows its store through the contract only, so an
 * adapter package (`@batchflight/redis`) supplies a store and no engine.
 *
 * A call first joins the in-process `SingleFlight` of its key, so a process
 * sends at most one participant per key to the store however many local
 * callers there are. That participant claims the key:
 *
 * - **leader**: runs the call, extending its lease every `leaseMs / 3`;
 *   then encodes the outcome (value through the codec, error as name,
 *   message, code) and completes the flight: every waiting process gets it.
 *   A value the codec cannot carry fails the leader's callers with the
 *   `CodecError` and reaches the waiters as that error, never as garbage.
 * - **held**: waits for the completion event (the store's watch, no
 *   polling). A timer at the end of the lease (at most `pollMs`) claims
 *   again, as a safety net: if the leader died, its lease has expired and
 *   this claim takes over (one waiter wins, the others keep waiting for it).
 * - **done**: a leader finished moments ago; its outcome is used.
 *
 * Waiter timeouts and AbortSignals are the in-process ones: a caller that
 * leaves rejects alone; when every local caller has left, the participant
 * stops waiting, or (as leader) aborts the call and releases the lease so
 * another process takes over at once.
 *
 * When the store is unreachable (its `unavailable(error)` says so: for
 * Redis, a `RedisUnavailableError`), `onUnavailable: 'local'` (the default)
 * runs the call in this process (coalesced in-process only); `'fail'`
 * rejects with the store's outage error. How soon that happens is the
 * store's bound: a `RedisFlightStore` answers every call within its
 * `commandTimeoutMs` (default 1000 ms), at once while the client is not
 * connected. A store that was closed is not an outage: `run` rejects with
 * its `ClosedError`.
 *
 * This class lived in `@batchflight/redis` before; that package still
 * exports it, deprecated, as an alias of this one.
 */
import {
  type Clock,
  ClosedError,
  type Codec,
  type EventChannel,
  Listeners,
  type Subscription,
  type Timer,
  describe,
  errorFromShape,
  errorShape,
  eventChannel,
  jsonCodec,
  knownOptions,
  numberOption,
  oneOfOption,
} from '../core/index.js';
import type { FlightEvent, FlightLease, FlightStore, FlightWatch } from './flight-store.js';
import {
  type FlightContext,
  type SingleFlightCloseOptions,
  clockOption,
  stringOption,
} from './options.js';
import { SingleFlight } from './single-flight.js';

const WHERE = 'DistributedFlight';

/** Options of {@link DistributedFlight}. */
export interface DistributedFlightOptions {
  /** Where leases and outcomes live: a `RedisFlightStore` for a fleet, a `MemoryFlightStore` in one process. */
  readonly store: FlightStore;
  /**
   * Lease of a leader, in milliseconds: if it dies, a waiter takes over this
   * long after its last extension. Extended every `leaseMs / 3`. Default 10_000.
   */
  readonly leaseMs?: number | undefined;
  /** How long an outcome stays readable for claims arriving just after, in ms. Default 1000. */
  readonly resultTtlMs?: number | undefined;
  /** Longest wait between two safety-net claims of a waiter, in ms. Default `leaseMs`. */
  readonly pollMs?: number | undefined;
  /** Encodes values for the waiters. Default: the strict {@link jsonCodec}. */
  readonly codec?: Codec | undefined;
  /** Default longest wait of one caller, in ms (a `TimeoutError` for that caller alone). */
  readonly timeoutMs?: number | undefined;
  /** When the store is unreachable: run locally (default) or fail. */
  readonly onUnavailable?: 'local' | 'fail' | undefined;
  /** Time source of the lease and poll timers. Default: the system clock. */
  readonly clock?: Clock | undefined;
  /**
   * A name carried by every event (this flight's and those of the in-process
   * `SingleFlight` it coalesces with, which has the same name) and by which
   * central configuration addresses the instance.
   */
  readonly name?: string | undefined;
}

/** Per-call options of {@link DistributedFlight.run}. */
export interface DistributedRunOptions {
  /** Lets this caller leave: it rejects alone with `signal.reason`. */
  readonly signal?: AbortSignal | undefined;
  /** Longest wait of this caller, in ms. */
  readonly timeoutMs?: number | undefined;
}

/** What a participant of this process did. */
export type DistributedRole = 'leader' | 'waiter' | 'done' | 'takeover' | 'local';

/** Payload of {@link DistributedFlight.onSettled}. */
export interface DistributedSettledEvent {
  /** The flight's `name` option. */
  readonly name: string | undefined;
  /** The flight key. */
  readonly key: string;
  /** `leader`: ran the call; `takeover`: ran it after a dead leader's lease expired; `waiter`/`done`: got another process's outcome; `local`: store unreachable. */
  readonly role: DistributedRole;
  /** True when the participant's callers got a value, false for an error. */
  readonly ok: boolean;
  /** The fencing number of the lease when this process led. */
  readonly fence: number | undefined;
}

/**
 * The diagnostics channels of distributed flight, by event; see
 * {@link distributedFlightChannels}. The in-process side of a distributed
 * flight (callers coalescing in one process, its close) publishes on the
 * `singleflight` channels, under the same `name`.
 */
export interface DistributedFlightChannels {
  /** A participant of this process settled. */
  readonly settled: EventChannel<DistributedSettledEvent>;
}

/**
 * Diagnostics channels, `batchflight:singleflight:distributed-<event>`, one
 * per field of {@link DistributedFlightChannels}.
 *
 * @example
 * ```ts
 * import diagnosticsChannel from 'node:diagnostics_channel';
 * diagnosticsChannel.subscribe(distributedFlightChannels.settled.name, (event) => {
 *   const { key, role, ok } = event as DistributedSettledEvent;
 * });
 * ```
 */
export const distributedFlightChannels: DistributedFlightChannels = {
  settled: eventChannel<DistributedSettledEvent>('singleflight', 'distributed-settled'),
};

/**
 * The name the `settled` channel had while the engine lived in
 * `@batchflight/redis`, `batchflight:redis:flight-settled`: published as well,
 * with the same payload, so existing subscribers keep receiving. New code
 * subscribes to `distributedFlightChannels.settled`.
 */
const legacySettled = eventChannel<DistributedSettledEvent>('redis', 'flight-settled');

/** Counters of {@link DistributedFlight.stats}. */
export interface DistributedFlightStats {
  /** Calls made (every local caller). */
  readonly calls: number;
  /** Participants sent to the store (one per key and local flight). */
  readonly participants: number;
  /** Executions in this process as leader (takeovers included). */
  readonly led: number;
  /** Executions after taking over an expired lease. */
  readonly takeovers: number;
  /** Outcomes received from another process. */
  readonly received: number;
  /** Executions run locally because the store was unreachable. */
  readonly local: number;
  /** Participants waiting right now for another process's outcome (a gauge). */
  readonly waiting: number;
}

/**
 * A single flight shared by every process on the same store.
 *
 * @example
 * ```ts
 * const redis = new Redis(process.env.REDIS_URL);
 * const flights = new DistributedFlight({
 *   store: new RedisFlightStore({ client: redis }),
 *   leaseMs: 5000,
 *   name: 'reports',
 * });
 * // 8 pods × 500 concurrent callers: one upstream call.
 * const report = await flights.run(`report:${day}`, (ctx) => buildReport(day, { signal: ctx.signal }));
 * ```
 */
export class DistributedFlight implements AsyncDisposable {
  readonly #store: FlightStore;
  readonly #local: SingleFlight;
  readonly #leaseMs: number;
  readonly #resultTtlMs: number;
  readonly #pollMs: number;
  readonly #codec: Codec;
  readonly #mode: 'local' | 'fail';
  readonly #clock: Clock;
  readonly #name: string | undefined;
  readonly #onSettled = new Listeners<DistributedSettledEvent>();
  #calls = 0;
  #participants = 0;
  #led = 0;
  #takeovers = 0;
  #received = 0;
  #localRuns = 0;
  #waiting = 0;
  #closed = false;

  constructor(options: DistributedFlightOptions) {
    if (typeof options !== 'object' || (options as unknown) === null) {
      throw new TypeError(`${WHERE}: options must be an object, got ${describe(options)}.`);
    }
    knownOptions(WHERE, options, [
      'store',
      'leaseMs',
      'resultTtlMs',
      'pollMs',
      'codec',
      'timeoutMs',
      'onUnavailable',
      'clock',
      'name',
    ]);
    const store = options.store as Partial<FlightStore> | null | undefined;
    if (
      typeof store !== 'object' ||
      store === null ||
      typeof store.claim !== 'function' ||
      typeof store.watch !== 'function' ||
      typeof store.complete !== 'function' ||
      (store.unavailable !== undefined && typeof store.unavailable !== 'function')
    ) {
      throw new TypeError(
        `${WHERE}: option store must be a FlightStore (watch, claim, extend, complete, release, and optionally unavailable), got ${describe(options.store)}.`,
      );
    }
    this.#store = options.store;
    this.#leaseMs = numberOption(WHERE, 'leaseMs', options.leaseMs ?? 10_000, { min: 10 });
    this.#resultTtlMs = numberOption(WHERE, 'resultTtlMs', options.resultTtlMs ?? 1000, { min: 1 });
    this.#pollMs = numberOption(WHERE, 'pollMs', options.pollMs ?? this.#leaseMs, { min: 1 });
    this.#codec = options.codec ?? jsonCodec;
    this.#mode = oneOfOption(WHERE, 'onUnavailable', options.onUnavailable ?? 'local', [
      'local',
      'fail',
    ]);
    this.#clock = clockOption(WHERE, options.clock);
    this.#name = stringOption(WHERE, 'name', options.name);
    this.#local = new SingleFlight({
      clock: this.#clock,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(this.#name === undefined ? {} : { name: this.#name }),
    });
  }

  /** The `name` option, if one was given. */
  get name(): string | undefined {
    return this.#name;
  }

  /**
   * Runs `fn` for `key` once across every process sharing the store, and
   * resolves to its value (or rejects with its error; from another process,
   * a `RemoteError` with the same name, message and code).
   *
   * @param fn - receives the context every batchflight callback gets ({@link FlightContext}:
   *   `signal`, which aborts when every caller in this process has left, `scope` and `key`),
   *   the same as `SingleFlight#run` hands its function.
   */
  run<T>(
    key: string,
    fn: (ctx: FlightContext) => Promise<T> | T,
    options?: DistributedRunOptions,
  ): Promise<T> {
    if (this.#closed) {
      return Promise.reject(new ClosedError(`${WHERE}: run() after close().`));
    }
    this.#calls++;
    // The local flight's context, handed on as it is: it also marks calls made through it
    // (re-entry detection of the local group).
    const participate = (ctx: FlightContext): Promise<T> => this.#participate(key, fn, ctx);
    return options === undefined
      ? this.#local.run<T>(key, participate)
      : this.#local.run<T>(key, participate, options);
  }

  /**
   * Refuses new calls (`ClosedError`) and resolves once the calls already
   * made have settled, as `SingleFlight#close` does (it is the in-process
   * flight's close): at the deadline (`timeoutMs`, or `signal` aborting) it
   * turns forced, the callers still waiting reject with a `ClosedError` and
   * the executions' signals abort (a leader then releases its lease, so
   * another process takes over at once). The store is the caller's: close it
   * yourself. Idempotent.
   *
   * @example
   * ```ts
   * process.once('SIGTERM', () => void flights.close({ timeoutMs: 5_000 }));
   * ```
   */
  close(options: SingleFlightCloseOptions = {}): Promise<void> {
    this.#closed = true;
    return this.#local.close(options);
  }

  /** Same as {@link close}: a graceful close without a deadline. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Called when a participant of this process settles (one per key and local flight). */
  onSettled(listener: (event: DistributedSettledEvent) => void): Subscription {
    return this.#onSettled.add(listener);
  }

  /** Counters since construction. */
  stats(): DistributedFlightStats {
    return {
      calls: this.#calls,
      participants: this.#participants,
      led: this.#led,
      takeovers: this.#takeovers,
      received: this.#received,
      local: this.#localRuns,
      waiting: this.#waiting,
    };
  }

  async #participate<T>(
    key: string,
    fn: (ctx: FlightContext) => Promise<T> | T,
    ctx: FlightContext,
  ): Promise<T> {
    const signal = ctx.signal;
    this.#participants++;
    let wake: ((event: FlightEvent | 'timer' | 'abort') => void) | undefined;
    let pending: FlightEvent | undefined;
    const listener = (event: FlightEvent): void => {
      if (wake !== undefined) wake(event);
      else if (pending?.kind !== 'done') pending = event;
    };
    let watch: FlightWatch;
    try {
      watch = await this.#store.watch(key, listener);
    } catch (error) {
      return this.#unavailable(key, fn, ctx, error);
    }
    let sawHolder = false;
    try {
      for (;;) {
        if (signal.aborted) throw signal.reason;
        let claim;
        try {
          claim = await this.#store.claim(key, this.#leaseMs);
        } catch (error) {
          return await this.#unavailable(key, fn, ctx, error);
        }
        if (claim.kind === 'done') return this.#received_(key, claim.outcome, 'done') as T;
        if (claim.kind === 'leader') {
          watch.dispose();
          return await this.#lead(claim.lease, fn, ctx, sawHolder);
        }
        sawHolder = true;
        if (pending !== undefined) {
          const event = pending;
          pending = undefined;
          if (event.kind === 'done') return this.#received_(key, event.outcome, 'waiter') as T;
          continue;
        }
        this.#waiting++;
        const event = await new Promise<FlightEvent | 'timer' | 'abort'>((resolve) => {
          const delay = Math.min(this.#pollMs, claim.leaseRemainingMs + 5);
          const timer: Timer = this.#clock.setTimer(() => {
            done('timer');
          }, delay);
          const onAbort = (): void => {
            done('abort');
          };
          const done = (e: FlightEvent | 'timer' | 'abort'): void => {
            this.#waiting--;
            wake = undefined;
            timer.cancel();
            signal.removeEventListener('abort', onAbort);
            resolve(e);
          };
          wake = done;
          signal.addEventListener('abort', onAbort, { once: true });
        });
        if (event === 'abort') throw signal.reason;
        if (event !== 'timer' && event.kind === 'done')
          return this.#received_(key, event.outcome, 'waiter') as T;
        // 'released', 'resync' or the lease's end: claim again.
      }
    } finally {
      watch.dispose();
    }
  }

  #received_(key: string, outcome: string, role: 'waiter' | 'done'): unknown {
    this.#received++;
    const ok = outcome.startsWith('v');
    this.#emit(key, role, ok, undefined);
    if (ok) return this.#codec.decode(outcome.slice(1));
    throw errorFromShape(JSON.parse(outcome.slice(1)));
  }

  async #lead<T>(
    lease: FlightLease,
    fn: (ctx: FlightContext) => Promise<T> | T,
    ctx: FlightContext,
    takeover: boolean,
  ): Promise<T> {
    const signal = ctx.signal;
    this.#led++;
    if (takeover) this.#takeovers++;
    const role = takeover ? 'takeover' : 'leader';
    let timer: Timer | undefined;
    const extend = (): void => {
      timer = this.#clock.setTimer(() => {
        this.#store.extend(lease, this.#leaseMs).then(
          (ours) => {
            if (ours && timer !== undefined) extend();
          },
          () => {
            if (timer !== undefined) extend(); // a blip: try again next period
          },
        );
      }, this.#leaseMs / 3);
    };
    extend();
    const stop = (): void => {
      const t = timer;
      timer = undefined;
      t?.cancel();
    };
    // Every local caller left: stop extending and free the lease now, not when
    // `fn` settles. A call that ignores its signal may never settle, and the
    // extensions would then hold the lease, and every waiter elsewhere, for as
    // long as this process lives. Once freed, the lease is not ours: a late
    // outcome of `fn` is not published (`complete` would be refused anyway).
    let released: Promise<unknown> | undefined;
    const onAbort = (): void => {
      stop();
      released = this.#store.release(lease).catch(() => false);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    const settle = (outcome: () => string): Promise<unknown> => {
      stop();
      signal.removeEventListener('abort', onAbort);
      return released ?? this.#complete(lease, outcome());
    };
    let value: T;
    try {
      value = await fn(ctx);
    } catch (error) {
      await settle(() => `e${JSON.stringify(errorShape(error))}`);
      this.#emit(lease.key, role, false, lease.fence);
      throw error;
    }
    let encoded: string;
    try {
      encoded = `v${this.#codec.encode(value)}`;
    } catch (error) {
      await settle(() => `e${JSON.stringify(errorShape(error))}`);
      this.#emit(lease.key, role, false, lease.fence);
      throw error;
    }
    await settle(() => encoded);
    this.#emit(lease.key, role, true, lease.fence);
    return value;
  }

  async #complete(lease: FlightLease, outcome: string): Promise<void> {
    // A store failure here only costs the waiters a takeover after the lease.
    await this.#store.complete(lease, outcome, this.#resultTtlMs).catch(() => false);
  }

  async #unavailable<T>(
    key: string,
    fn: (ctx: FlightContext) => Promise<T> | T,
    ctx: FlightContext,
    error: unknown,
  ): Promise<T> {
    // A store closed under us, or an answer of the store (a server error), is the caller's to
    // see, not an outage.
    if (ClosedError.is(error)) throw error;
    const outage = this.#store.unavailable === undefined ? error : this.#store.unavailable(error);
    if (outage === undefined) throw error;
    // The store's report of the outage (an Error when the store has the hook, else what it threw).
    // eslint-disable-next-line @typescript-eslint/only-throw-error
    if (this.#mode === 'fail') throw outage;
    this.#localRuns++;
    try {
      const value = await fn(ctx);
      this.#emit(key, 'local', true, undefined);
      return value;
    } catch (e) {
      this.#emit(key, 'local', false, undefined);
      throw e;
    }
  }

  #emit(key: string, role: DistributedRole, ok: boolean, fence: number | undefined): void {
    const channel = distributedFlightChannels.settled;
    if (!this.#onSettled.active && !channel.hasSubscribers && !legacySettled.hasSubscribers) return;
    const event: DistributedSettledEvent = { name: this.#name, key, role, ok, fence };
    this.#onSettled.emit(event);
    if (channel.hasSubscribers) channel.publish(event);
    if (legacySettled.hasSubscribers) legacySettled.publish(event);
  }
}
