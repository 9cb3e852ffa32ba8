/**
 * The `FlightStore` contract: where a single flight shared by many processes
 * keeps its lease and its result (Redis in `@batchflight/redis`).
 *
 * One key, one leader at a time. The first process to `claim` a key gets a
 * lease (with a fencing token) and runs the call; the others see the lease
 * `held` and `watch` the key until the leader `complete`s it (the outcome
 * reaches every watcher, and stays readable for `resultTtlMs` for claims
 * that arrive just after) or `release`s it. The leader `extend`s its lease
 * while it runs; if it dies, the lease expires and the next `claim` takes
 * over. A store carries outcomes as opaque strings: encoding values and
 * errors is the flight's job, not the store's.
 *
 * Invariants every store keeps (the conformance suite in
 * `@batchflight/testing` checks them):
 *
 * - **One lease.** Among concurrent claims of a free key exactly one gets
 *   `leader`; fencing tokens of successive leases of a key increase.
 * - **Fencing.** `extend`, `complete` and `release` act only when the lease
 *   given is still the current one (not expired, not taken over): a stale
 *   leader can neither overwrite a newer outcome nor free a newer lease.
 * - **No lost wake-up.** A watcher registered (its `watch` resolved) before a
 *   `claim` that answered `held` is told of the `complete` or `release` that
 *   follows, or gets `resync` when the store may have missed it (a
 *   reconnect); a `complete` before the claim makes the claim answer `done`.
 * - **Expiry.** An un-extended lease expires after `leaseMs`; a stored
 *   outcome after `resultTtlMs`.
 *
 * A store that can be unreachable (a server down, a call past its deadline)
 * says which of its errors mean that through {@link FlightStore.unavailable}:
 * the flight then runs the call in its own process, or fails, as its
 * `onUnavailable` option says, instead of handing the caller a network error.
 * Stores: `MemoryFlightStore` (here, one process) and `RedisFlightStore`
 * (`@batchflight/redis`, a fleet).
 */

/** A held lease: proof of leadership of `key`. */
export interface FlightLease {
  /** The flight key. */
  readonly key: string;
  /** Opaque, unique per lease; what `extend`/`complete`/`release` compare. */
  readonly token: string;
  /** Fencing number: strictly increasing over the successive leases of a key. */
  readonly fence: number;
}

/** The answer of {@link FlightStore.claim}. */
export type FlightClaim =
  /** The caller leads: run the call, then `complete` (or `release`). */
  | { readonly kind: 'leader'; readonly lease: FlightLease }
  /** A leader finished moments ago: its outcome, as given to `complete`. */
  | { readonly kind: 'done'; readonly outcome: string }
  /** Another process leads; its lease ends in `leaseRemainingMs` unless extended. */
  | { readonly kind: 'held'; readonly leaseRemainingMs: number };

/** What a watcher of a key is told. */
export type FlightEvent =
  /** The leader completed: its outcome. */
  | { readonly kind: 'done'; readonly outcome: string }
  /** The leader gave up without an outcome: claim again. */
  | { readonly kind: 'released' }
  /** Events may have been missed (a reconnect): claim again to find out. */
  | { readonly kind: 'resync' };

/** A registration made by {@link FlightStore.watch}. */
export interface FlightWatch {
  /** Stops the notifications. Idempotent. */
  dispose(): void;
}

/** Where a distributed single flight lives. See the module comment. */
export interface FlightStore {
  /**
   * Registers `listener` for the events of `key`; resolves once the
   * registration is live (events after that are not missed).
   */
  watch(key: string, listener: (event: FlightEvent) => void): Promise<FlightWatch>;
  /** Takes the lease of `key` for `leaseMs`, or reports the outcome or the current holder. */
  claim(key: string, leaseMs: number): Promise<FlightClaim>;
  /** Extends `lease` to `leaseMs` from now; false when it is no longer the current lease. */
  extend(lease: FlightLease, leaseMs: number): Promise<boolean>;
  /**
   * Stores `outcome` for `resultTtlMs`, frees the lease and notifies the
   * watchers; false (and nothing stored) when `lease` is no longer current.
   */
  complete(lease: FlightLease, outcome: string, resultTtlMs: number): Promise<boolean>;
  /** Frees the lease without an outcome and notifies the watchers; false when not current. */
  release(lease: FlightLease): Promise<boolean>;
  /**
   * How this store reports that it could not be reached. Given an error one
   * of its calls rejected with, returns the error that stands for the outage
   * (the store is unreachable or did not answer in time: `RedisFlightStore`
   * answers a `RedisUnavailableError`), or `undefined` when `error` is an
   * answer of the store (a server's error reply) that the caller sees as it
   * is. On an outage a `DistributedFlight` runs the call in its own process
   * (`onUnavailable: 'local'`) or rejects with the returned error (`'fail'`).
   *
   * Without this method every error of the store is an outage, reported as it
   * is. A `ClosedError` (the store was closed) is never one, whatever this says.
   */
  unavailable?(error: unknown): Error | undefined;
  /** Releases connections and timers. Idempotent. */
  close?(): void | PromiseLike<void>;
}
