/** Errors of `batchflight/rate-limit`. */
import { BatchflightError, type BatchflightErrorOptions } from '../core/index.js';

/** Details carried by a {@link RateLimitedError}. */
export interface RateLimitedDetails {
  /** Milliseconds until the same call would be admitted (Infinity when unknown). */
  readonly retryAfterMs: number;
  /** Units admitted per `perMs` by the limit that refused the call. */
  readonly limit: number;
  /** The period of `limit`, in milliseconds. */
  readonly perMs: number;
  /** Whole units that could still be admitted right now (0 when the queue was full). */
  readonly remaining: number;
  /** Milliseconds until the limit is fully replenished. */
  readonly resetAfterMs: number;
  /**
   * `'limited'`: no room now and `whenLimited: 'reject'`; `'queue-full'`: `maxQueued` callers
   * already wait; `'stalled'`: the store kept refusing a waiter more than `maxStallMs` past the
   * time it said it would pass (a fail-closed store while its server is down ends here).
   */
  readonly reason: RateLimitedReason;
}

/** Why a {@link RateLimitedError} refused a call; see {@link RateLimitedDetails.reason}. */
export type RateLimitedReason = 'limited' | 'queue-full' | 'stalled';

/**
 * A call was refused by a rate limit: with `whenLimited: 'reject'` when
 * there was no room, or with `'wait'` when the wait queue was full or the store
 * kept refusing a waiter past `maxStallMs`. Carries
 * what an HTTP 429 needs (`Retry-After`, `RateLimit-Limit`,
 * `RateLimit-Remaining`, `RateLimit-Reset`).
 *
 * @example
 * ```ts
 * if (RateLimitedError.is(err)) reply.header('retry-after', Math.ceil(err.retryAfterMs / 1000)).code(429);
 * ```
 */
export class RateLimitedError extends BatchflightError implements RateLimitedDetails {
  static override readonly code: string = 'ERR_BATCHFLIGHT_RATE_LIMITED';
  override name = 'RateLimitedError';
  readonly retryAfterMs: number;
  readonly limit: number;
  readonly perMs: number;
  readonly remaining: number;
  readonly resetAfterMs: number;
  readonly reason: RateLimitedReason;

  constructor(message: string, details: RateLimitedDetails, options?: BatchflightErrorOptions) {
    super(message, options);
    this.retryAfterMs = details.retryAfterMs;
    this.limit = details.limit;
    this.perMs = details.perMs;
    this.remaining = details.remaining;
    this.resetAfterMs = details.resetAfterMs;
    this.reason = details.reason;
  }
}
