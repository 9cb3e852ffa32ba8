/**
 * The `RateLimitStore` contract: where GCRA state lives (memory, Redis, …).
 *
 * GCRA (the generic cell rate algorithm) keeps one number per key, the
 * theoretical arrival time (TAT): the instant at which the key would be
 * fully replenished. With an emission interval `T = perMs / rate` and a
 * burst of `burst` units, a request of `cost` units at `now` is allowed when
 *
 *     newTat = max(tat, now) + cost * T   and   newTat - now <= burst * T
 *
 * in which case the store saves `newTat`; otherwise nothing is saved and the
 * caller may retry after `newTat - burst * T - now` ms. No refill timer is
 * needed, and a key whose TAT is in the past is the same as a fresh key, so a
 * store may forget it (Redis: `PEXPIRE` of `newTat - now`).
 *
 * Invariants every store keeps (the conformance suite in
 * `@batchflight/testing` checks them):
 *
 * - **Atomic, all or nothing.** One `acquire` checks every limit it names and
 *   either charges all of them or none (20/s and 1000/min together), with no
 *   other acquire on those keys interleaved (Redis: one Lua script).
 * - **Time.** When the request carries `now`, the store uses it; otherwise it
 *   uses its own clock (Redis: `TIME` inside the script, so every process of
 *   a fleet shares the server's clock and a skewed host cannot cheat).
 *   Mixing both on one key is allowed but only meaningful if the clocks agree.
 * - **Limits are parameters, not state.** The rate, period and burst travel
 *   with every request, so changing them needs no migration; the state of a
 *   key is its TAT alone (in ms, fractional allowed).
 * - **May answer synchronously.** `acquire` may return the decision or a
 *   promise of it; callers always `await`. The memory store answers
 *   synchronously, so an admitted call costs no promise.
 */

/** One limit to charge: a key and its GCRA parameters. */
export interface RateLimitRule {
  /** Store key of this limit (already namespaced and scoped by the caller). */
  readonly key: string;
  /** Units admitted per `perMs` in the long run (> 0). */
  readonly rate: number;
  /** The period of `rate`, in milliseconds (> 0). */
  readonly perMs: number;
  /** Units that may be admitted at once after an idle period (>= 1, and >= any cost). */
  readonly burst: number;
}

/** One atomic acquisition across one or more limits. */
export interface RateLimitRequest {
  /** Every limit that must admit the request; all are charged or none. At least one. */
  readonly rules: readonly RateLimitRule[];
  /** Units this request consumes from every rule (>= 0; 0 only peeks). */
  readonly cost: number;
  /** The current time in epoch ms; when absent the store uses its own clock. */
  readonly now?: number | undefined;
}

/** The answer of {@link RateLimitStore.acquire}. */
export interface RateLimitDecision {
  /** True when every rule admitted the request and all were charged. */
  readonly allowed: boolean;
  /**
   * When not allowed: milliseconds until this same request would be allowed
   * (the longest wait over the rules), assuming nobody else consumes. 0 when
   * allowed.
   */
  readonly retryAfterMs: number;
  /**
   * Whole units that could still be admitted right now after this decision,
   * the smallest over the rules.
   */
  readonly remaining: number;
  /** Milliseconds until every rule is fully replenished (the longest over the rules). */
  readonly resetAfterMs: number;
  /**
   * Index in `rules` of the rule that limited the request (the one with the
   * longest wait), or -1 when allowed.
   */
  readonly limitedBy: number;
}

/** Where rate-limit state lives. See the module comment for the invariants. */
export interface RateLimitStore {
  /** Checks and, when every rule admits it, charges `request` atomically. */
  acquire(request: RateLimitRequest): RateLimitDecision | PromiseLike<RateLimitDecision>;
  /** Forgets the state of `keys` (they become fresh). */
  reset(keys: readonly string[]): void | PromiseLike<void>;
  /** Releases resources. Idempotent. */
  close?(): void | PromiseLike<void>;
}

/**
 * Floating-point slack of GCRA comparisons, in ms (1 µs): fractional
 * intervals (1000 / 3) and epoch-sized timestamps round, and a request that
 * fits exactly must not be refused by that rounding.
 */
export const GCRA_TOLERANCE_MS = 1e-3;

/**
 * The GCRA decision for one rule given its stored TAT (or undefined for a
 * fresh key). Pure, shared by every in-process store and usable as the
 * reference a Lua script is checked against.
 *
 * @returns the decision fields for this rule and the TAT to store when allowed.
 */
export function gcra(
  rule: RateLimitRule,
  storedTat: number | undefined,
  cost: number,
  now: number,
): {
  readonly allowed: boolean;
  readonly newTat: number;
  readonly retryAfterMs: number;
  readonly remaining: number;
  readonly resetAfterMs: number;
} {
  const interval = rule.perMs / rule.rate;
  const window = rule.burst * interval;
  // Work relative to now: epoch milliseconds (~1.8e12) carry only ~0.2 µs of
  // precision, so comparing absolute TATs would round a fit into a refusal.
  const behind = storedTat === undefined || storedTat <= now ? 0 : storedTat - now;
  const newBehind = behind + cost * interval;
  if (newBehind <= window + GCRA_TOLERANCE_MS) {
    return {
      allowed: true,
      newTat: now + newBehind,
      retryAfterMs: 0,
      remaining: Math.max(0, Math.floor((window - newBehind) / interval + 1e-9)),
      resetAfterMs: newBehind,
    };
  }
  return {
    allowed: false,
    newTat: now + behind,
    retryAfterMs: newBehind - window,
    remaining: Math.max(0, Math.floor((window - behind) / interval + 1e-9)),
    resetAfterMs: behind,
  };
}
