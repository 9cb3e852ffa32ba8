/**
 * The recommended protection stack from the README ("Composing layers"),
 * type-checked and tested so the documentation cannot drift from the code.
 *
 * Outermost first: fallback (answers for everything inside), retry with a
 * shared budget (its sleeps hold no slot), bulkhead (outside the breaker, so
 * a local BulkheadFullError never counts as an upstream failure), circuit
 * breaker, timeout (per attempt; a slow call counts as a failure).
 */
import { stack, type Handler } from 'batchflight/core';
import { exponentialBackoff, retry, retryBudget } from 'batchflight/retry';
import { circuitBreaker, sampling } from 'batchflight/circuit-breaker';
import { bulkhead } from 'batchflight/bulkhead';
import { timeout } from 'batchflight/timeout';
import { fallback } from 'batchflight/fallback';
import type { Clock } from 'batchflight/core';

/** What an upstream call may carry that the retry understands. */
interface HttpishError {
  readonly status?: number;
}

/** Builds the protected handler around `fetchUser`; `stale` answers when everything fails. */
export function protectUsers(
  fetchUser: Handler<number, string>,
  stale: (id: number) => string,
  clock?: Clock,
) {
  const time = clock === undefined ? {} : { clock };
  const budget = retryBudget(); // share it between every policy in front of this upstream
  const breaker = circuitBreaker({
    policy: sampling({ threshold: 0.5, windowMs: 10_000, minimumCalls: 20 }),
    halfOpenAfterMs: 5_000,
    // A 4xx is the caller's mistake, not the upstream failing.
    failureOn: (error) => ((error as HttpishError).status ?? 500) >= 500,
    ...time,
  });
  const handler = stack(
    fallback({ compute: (_error, id: number) => stale(id) }),
    retry({
      maxAttempts: 4,
      backoff: exponentialBackoff({ initialDelayMs: 50, maxDelayMs: 2_000 }),
      retryOn: (error) => (error as HttpishError).status !== 400,
      budget,
      ...time,
    }),
    bulkhead({ maxConcurrent: 10, maxQueued: 100 }),
    breaker,
    timeout({ ms: 500, ...time }),
  ).wrap(fetchUser);
  return { handler, breaker, budget };
}
