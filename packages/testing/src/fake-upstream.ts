/**
 * A fake downstream (database, HTTP API) that counts what reaches it and can
 * be slow, small, throttled or down: the thing every batchflight primitive is
 * meant to protect, made observable for tests, demos and benchmarks.
 */
import { sleep, systemClock, type Clock } from 'batchflight/core';

/** An error the fake upstream answers with, shaped like an HTTP failure. */
export class UpstreamError extends Error {
  override name = 'UpstreamError';
  /** HTTP-like status: 429 when throttled, 503 when down, 500 for injected failures. */
  readonly status: number;
  /** For 429: when the current rate window reopens, in milliseconds. */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, status: number, retryAfterMs?: number) {
    super(message);
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

/** Options of {@link FakeUpstream}. */
export interface FakeUpstreamOptions<K, V> {
  /** Time source for latency and rate windows. Default: the system clock. */
  readonly clock?: Clock;
  /**
   * Latency of one call in milliseconds, fixed or computed from the keys of
   * the call (a bulk call of n keys often costs `base + perItem * n`).
   * Default 0 (answers on the next timer turn).
   */
  readonly latencyMs?: number | ((keys: readonly K[]) => number);
  /**
   * Calls served at once, like a connection pool; the rest wait in FIFO
   * order. Default: unlimited.
   */
  readonly concurrency?: number;
  /**
   * Calls admitted per second (fixed one-second windows); beyond it a call
   * fails at once with a 429 {@link UpstreamError}. Default: unlimited.
   */
  readonly ratePerSecond?: number;
  /** Largest bulk call accepted; a larger one fails with a 413. Default: unlimited. */
  readonly maxBatchSize?: number;
  /** The answer for one key: a value, or an Error for a per-item failure. Default: `` `value:${key}` ``. */
  readonly value?: (key: K) => V | Error;
}

/** Counters of what reached the fake upstream. */
export interface FakeUpstreamStats {
  /** Calls that reached the upstream (single and bulk), admitted or not. */
  calls: number;
  /** Bulk calls among them. */
  bulkCalls: number;
  /** Keys requested across all admitted calls. */
  items: number;
  /** Calls refused with 429. */
  throttled: number;
  /** Calls that failed because the upstream was down or a failure was injected. */
  failed: number;
  /** Calls currently being served. */
  inFlight: number;
  /** Most calls ever served at once. */
  maxInFlight: number;
  /** Calls waiting for a pool slot now. */
  queued: number;
}

interface Waiter {
  readonly resolve: () => void;
}

/**
 * @example
 * ```ts
 * const db = new FakeUpstream<number, string>({ latencyMs: 60, concurrency: 10 });
 * await db.get(1); // 'value:1'
 * db.stats.calls; // 1
 * ```
 */
export class FakeUpstream<K = unknown, V = string> {
  readonly stats: FakeUpstreamStats = {
    calls: 0,
    bulkCalls: 0,
    items: 0,
    throttled: 0,
    failed: 0,
    inFlight: 0,
    maxInFlight: 0,
    queued: 0,
  };
  /** How many times each key was requested. */
  readonly requestsByKey = new Map<K, number>();
  /** Sizes of the bulk calls, in arrival order. */
  readonly batchSizes: number[] = [];

  readonly #clock: Clock;
  readonly #latency: (keys: readonly K[]) => number;
  readonly #concurrency: number;
  readonly #rate: number;
  readonly #maxBatchSize: number;
  readonly #value: (key: K) => V | Error;
  readonly #queue: Waiter[] = [];
  #windowStart = -Infinity;
  #windowCount = 0;
  #downUntil = -Infinity;
  #failNext = 0;
  #failWith: (() => Error) | undefined;

  constructor(options: FakeUpstreamOptions<K, V> = {}) {
    this.#clock = options.clock ?? systemClock;
    const latency = options.latencyMs ?? 0;
    this.#latency = typeof latency === 'function' ? latency : () => latency;
    this.#concurrency = options.concurrency ?? Infinity;
    this.#rate = options.ratePerSecond ?? Infinity;
    this.#maxBatchSize = options.maxBatchSize ?? Infinity;
    this.#value = options.value ?? ((key: K) => `value:${String(key)}` as V);
  }

  /** One single-item call. Per-item errors are thrown. */
  async get(key: K, options?: { readonly signal?: AbortSignal }): Promise<V> {
    const [result] = await this.#serve([key], false, options?.signal);
    if (result instanceof Error) throw result;
    return result as V;
  }

  /**
   * One bulk call: answers in key order, with an Error in the slot of a key
   * that failed alone.
   */
  async getMany(
    keys: readonly K[],
    options?: { readonly signal?: AbortSignal },
  ): Promise<(V | Error)[]> {
    return this.#serve(keys, true, options?.signal);
  }

  /** Makes every call fail with a 503 for `durationMs` (default: until {@link up}). */
  down(durationMs = Infinity): void {
    this.#downUntil = this.#clock.now() + durationMs;
  }

  /** Ends an outage started with {@link down}. */
  up(): void {
    this.#downUntil = -Infinity;
  }

  /** True while an outage is in force. */
  get isDown(): boolean {
    return this.#clock.now() < this.#downUntil;
  }

  /** Makes the next `count` calls fail (with a 500, or the error `make` builds). */
  failNext(count: number, make?: () => Error): void {
    this.#failNext = count;
    this.#failWith = make;
  }

  /** Zeroes the counters (an outage or injected failures stay in force). */
  resetStats(): void {
    Object.assign(this.stats, { calls: 0, bulkCalls: 0, items: 0, throttled: 0, failed: 0 });
    this.stats.maxInFlight = this.stats.inFlight;
    this.requestsByKey.clear();
    this.batchSizes.length = 0;
  }

  async #serve(keys: readonly K[], bulk: boolean, signal?: AbortSignal): Promise<(V | Error)[]> {
    signal?.throwIfAborted();
    this.stats.calls++;
    if (bulk) {
      this.stats.bulkCalls++;
      this.batchSizes.push(keys.length);
    }
    if (this.#rate !== Infinity) {
      const now = this.#clock.now();
      if (now - this.#windowStart >= 1000) {
        this.#windowStart = now;
        this.#windowCount = 0;
      }
      if (this.#windowCount >= this.#rate) {
        this.stats.throttled++;
        throw new UpstreamError(
          `rate limit of ${String(this.#rate)}/s exceeded`,
          429,
          this.#windowStart + 1000 - now,
        );
      }
      this.#windowCount++;
    }
    if (keys.length > this.#maxBatchSize) {
      this.stats.failed++;
      throw new UpstreamError(
        `bulk call of ${String(keys.length)} keys exceeds the limit of ${String(this.#maxBatchSize)}`,
        413,
      );
    }
    await this.#acquire(signal);
    try {
      for (const key of keys) this.requestsByKey.set(key, (this.requestsByKey.get(key) ?? 0) + 1);
      this.stats.items += keys.length;
      await sleep(this.#latency(keys), { clock: this.#clock, ...(signal && { signal }) });
      if (this.isDown) {
        this.stats.failed++;
        throw new UpstreamError('upstream unavailable', 503);
      }
      if (this.#failNext > 0) {
        this.#failNext--;
        this.stats.failed++;
        throw this.#failWith?.() ?? new UpstreamError('injected failure', 500);
      }
      return keys.map((key) => this.#value(key));
    } finally {
      this.#release();
    }
  }

  /** Takes a pool slot; a released slot passes straight to the oldest waiter. */
  async #acquire(signal?: AbortSignal): Promise<void> {
    if (this.stats.inFlight < this.#concurrency && this.#queue.length === 0) {
      this.#occupy();
      return;
    }
    this.stats.queued++;
    try {
      await new Promise<void>((resolve, reject) => {
        const waiter: Waiter = {
          resolve: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
        };
        const onAbort = (): void => {
          const index = this.#queue.indexOf(waiter);
          if (index !== -1) this.#queue.splice(index, 1);
          reject(signal?.reason as Error);
        };
        this.#queue.push(waiter);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    } finally {
      this.stats.queued--;
    }
  }

  #occupy(): void {
    this.stats.inFlight++;
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.stats.inFlight);
  }

  #release(): void {
    const next = this.#queue.shift();
    // The slot is handed over without being freed, so no newcomer can jump the queue.
    if (next === undefined) this.stats.inFlight--;
    else next.resolve();
  }
}
