/**
 * The in-process {@link RateLimitStore}: one number (the GCRA theoretical
 * arrival time) per key in a Map, decisions answered synchronously.
 *
 * Keys whose TAT is in the past carry no information (they equal a fresh
 * key), so they are swept lazily: when the map has doubled since the last
 * sweep, the next acquire removes the stale ones. No timer is involved.
 */
import {
  type Clock,
  InvalidOptionError,
  describe,
  knownOptions,
  systemClock,
} from '../core/index.js';
import {
  type RateLimitDecision,
  type RateLimitRequest,
  type RateLimitRule,
  type RateLimitStore,
  gcra,
} from './store.js';

/** Options of {@link MemoryRateLimitStore}. */
export interface MemoryRateLimitStoreOptions {
  /** Clock used when a request carries no `now`. Default: the system clock. */
  readonly clock?: Clock;
}

const WHERE = 'MemoryRateLimitStore';
const SWEEP_FLOOR = 1024;

/**
 * An in-memory GCRA {@link RateLimitStore}.
 *
 * @example
 * ```ts
 * const store = new MemoryRateLimitStore();
 * store.acquire({ rules: [{ key: 'api', rate: 10, perMs: 1000, burst: 10 }], cost: 1 });
 * // { allowed: true, remaining: 9, retryAfterMs: 0, resetAfterMs: 100, limitedBy: -1 }
 * ```
 */
export class MemoryRateLimitStore implements RateLimitStore {
  readonly #tats = new Map<string, number>();
  readonly #clock: Clock;
  #sweepAt = SWEEP_FLOOR;

  constructor(options: MemoryRateLimitStoreOptions = {}) {
    knownOptions(WHERE, options, ['clock']);
    this.#clock = options.clock ?? systemClock;
  }

  acquire(request: RateLimitRequest): RateLimitDecision {
    const now = request.now ?? this.#clock.now();
    const { rules, cost } = request;
    if (rules.length === 1) return this.#acquireOne(rules[0] as RateLimitRule, cost, now);
    if (rules.length === 0) {
      throw new InvalidOptionError(
        'rules',
        `${WHERE}.acquire(): rules must name at least one limit, got ${describe(rules)}.`,
      );
    }
    let allowed = true;
    let retryAfterMs = 0;
    let remaining = Infinity;
    let resetAfterMs = 0;
    let limitedBy = -1;
    const newTats: number[] = [];
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i] as RateLimitRule;
      const d = gcra(rule, this.#tats.get(rule.key), cost, now);
      newTats.push(d.newTat);
      if (!d.allowed) {
        allowed = false;
        if (limitedBy === -1 || d.retryAfterMs > retryAfterMs) {
          retryAfterMs = d.retryAfterMs;
          limitedBy = i;
        }
      }
      remaining = Math.min(remaining, d.remaining);
      resetAfterMs = Math.max(resetAfterMs, d.resetAfterMs);
    }
    if (allowed) {
      for (let i = 0; i < rules.length; i++) {
        this.#tats.set((rules[i] as RateLimitRule).key, newTats[i] as number);
      }
      this.#maybeSweep(now);
      return { allowed, retryAfterMs: 0, remaining, resetAfterMs, limitedBy: -1 };
    }
    // Denied: the other rules were not charged, so their remaining/reset are
    // what they were before; recompute them as a peek so the answer is honest.
    remaining = Infinity;
    resetAfterMs = 0;
    for (const rule of rules) {
      const peek = gcra(rule, this.#tats.get(rule.key), 0, now);
      remaining = Math.min(remaining, peek.remaining);
      resetAfterMs = Math.max(resetAfterMs, peek.resetAfterMs);
    }
    return { allowed, retryAfterMs, remaining, resetAfterMs, limitedBy };
  }

  reset(keys: readonly string[]): void {
    for (const key of keys) this.#tats.delete(key);
  }

  /** Keys currently holding state (some may be stale, not yet swept). */
  get size(): number {
    return this.#tats.size;
  }

  /** Forgets every key. Idempotent. */
  close(): void {
    this.#tats.clear();
  }

  #acquireOne(rule: RateLimitRule, cost: number, now: number): RateLimitDecision {
    const d = gcra(rule, this.#tats.get(rule.key), cost, now);
    if (d.allowed) {
      if (cost > 0) this.#tats.set(rule.key, d.newTat);
      this.#maybeSweep(now);
    }
    return {
      allowed: d.allowed,
      retryAfterMs: d.retryAfterMs,
      remaining: d.remaining,
      resetAfterMs: d.resetAfterMs,
      limitedBy: d.allowed ? -1 : 0,
    };
  }

  #maybeSweep(now: number): void {
    if (this.#tats.size < this.#sweepAt) return;
    for (const [key, tat] of this.#tats) if (tat <= now) this.#tats.delete(key);
    this.#sweepAt = Math.max(SWEEP_FLOOR, 2 * this.#tats.size);
  }
}
