/**
 * The in-process {@link FlightStore}: leases and outcomes in a Map, for tests
 * and for several `DistributedFlight`s of one process (each with its own
 * options) that must still share one execution per key.
 *
 * It keeps the contract's invariants as the Redis store does, on the
 * store's Clock (a `TestClock` drives lease and outcome expiry): a lease is
 * free once `leaseMs` passed since its last extension, an outcome is gone
 * after `resultTtlMs`. Expiry is read lazily on each call, so no timer is
 * involved; entries nobody asks for again are swept when the map has doubled
 * since the last sweep. Fencing numbers come from one counter for the whole
 * store, which makes them increase over the successive leases of every key
 * without a counter per key to keep.
 *
 * Events reach the watchers in a microtask, not inside `complete`/`release`:
 * a listener never runs in the middle of the store's own call, as with a
 * store whose events arrive over the network. A watch disposed before its
 * event is delivered is not told.
 */
import { type Clock, ClosedError, knownOptions, systemClock } from '../core/index.js';
import type {
  FlightClaim,
  FlightEvent,
  FlightLease,
  FlightStore,
  FlightWatch,
} from './flight-store.js';
import { type FlightListener, FlightWatchers } from './flight-watchers.js';

/** Options of {@link MemoryFlightStore}. */
export interface MemoryFlightStoreOptions {
  /** Time source of lease and outcome expiry. Default: the system clock. */
  readonly clock?: Clock | undefined;
}

interface Entry {
  /** The current lease's token and when it ends (ms on the clock); none when free. */
  token: string | undefined;
  leaseEndsAt: number;
  /** The stored outcome and when it is gone; none when there is none. */
  outcome: string | undefined;
  outcomeEndsAt: number;
}

const WHERE = 'MemoryFlightStore';
const SWEEP_FLOOR = 1024;

/**
 * An in-memory {@link FlightStore}; see the module comment.
 *
 * @example
 * ```ts
 * const store = new MemoryFlightStore();
 * const reports = new DistributedFlight({ store, name: 'reports' });
 * const exports = new DistributedFlight({ store, name: 'exports', leaseMs: 60_000 });
 * ```
 */
export class MemoryFlightStore implements FlightStore, AsyncDisposable {
  readonly #clock: Clock;
  readonly #entries = new Map<string, Entry>();
  readonly #watchers = new FlightWatchers();
  #fence = 0;
  #sweepAt = SWEEP_FLOOR;
  #closed = false;

  constructor(options: MemoryFlightStoreOptions = {}) {
    knownOptions(WHERE, options, ['clock']);
    this.#clock = options.clock ?? systemClock;
  }

  /** Registers at once (nothing to subscribe); after {@link close}, rejects with a `ClosedError`. */
  watch(key: string, listener: FlightListener): Promise<FlightWatch> {
    if (this.#closed) {
      return Promise.reject(new ClosedError(`${WHERE}.watch(): the store is closed.`));
    }
    return Promise.resolve(this.#watchers.add(key, listener));
  }

  claim(key: string, leaseMs: number): Promise<FlightClaim> {
    const now = this.#clock.now();
    let entry = this.#live(key, now);
    if (entry?.outcome !== undefined) {
      return Promise.resolve({ kind: 'done', outcome: entry.outcome });
    }
    if (entry?.token !== undefined) {
      return Promise.resolve({ kind: 'held', leaseRemainingMs: entry.leaseEndsAt - now });
    }
    if (entry === undefined) {
      entry = { token: undefined, leaseEndsAt: 0, outcome: undefined, outcomeEndsAt: 0 };
      this.#entries.set(key, entry);
      if (this.#entries.size >= this.#sweepAt) this.#sweep(now);
    }
    const fence = ++this.#fence;
    entry.token = `t${String(fence)}`;
    entry.leaseEndsAt = now + leaseMs;
    return Promise.resolve({ kind: 'leader', lease: { key, token: entry.token, fence } });
  }

  extend(lease: FlightLease, leaseMs: number): Promise<boolean> {
    const now = this.#clock.now();
    const entry = this.#current(lease, now);
    if (entry !== undefined) entry.leaseEndsAt = now + leaseMs;
    return Promise.resolve(entry !== undefined);
  }

  complete(lease: FlightLease, outcome: string, resultTtlMs: number): Promise<boolean> {
    const now = this.#clock.now();
    const entry = this.#current(lease, now);
    if (entry === undefined) return Promise.resolve(false);
    entry.token = undefined;
    entry.outcome = outcome;
    entry.outcomeEndsAt = now + Math.max(1, resultTtlMs);
    this.#notify(lease.key, { kind: 'done', outcome });
    return Promise.resolve(true);
  }

  release(lease: FlightLease): Promise<boolean> {
    const entry = this.#current(lease, this.#clock.now());
    if (entry === undefined) return Promise.resolve(false);
    entry.token = undefined;
    this.#entries.delete(lease.key);
    this.#notify(lease.key, { kind: 'released' });
    return Promise.resolve(true);
  }

  /**
   * Refuses new watches (`ClosedError`) and forgets the watchers; claims and
   * completions still answer, so flights already running finish. Idempotent.
   */
  close(): void {
    this.#closed = true;
    this.#watchers.clear();
  }

  /** Same as {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  /** The entry of `key` with what has expired by `now` cleared; undefined when nothing is left. */
  #live(key: string, now: number): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.token !== undefined && entry.leaseEndsAt <= now) entry.token = undefined;
    if (entry.outcome !== undefined && entry.outcomeEndsAt <= now) entry.outcome = undefined;
    if (entry.token === undefined && entry.outcome === undefined) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  /** The entry of `lease.key` when `lease` is its current, unexpired lease. */
  #current(lease: FlightLease, now: number): Entry | undefined {
    const entry = this.#live(lease.key, now);
    return entry?.token === lease.token ? entry : undefined;
  }

  #notify(key: string, event: FlightEvent): void {
    const listeners = this.#watchers.listeners(key);
    if (listeners === undefined) return;
    queueMicrotask(() => {
      for (const listener of listeners.list) if (listeners.live(listener)) listener(event);
    });
  }

  #sweep(now: number): void {
    for (const key of [...this.#entries.keys()]) this.#live(key, now);
    this.#sweepAt = Math.max(SWEEP_FLOOR, this.#entries.size * 2);
  }
}
