/** docs/composing.md: the order of retry and breaker, on a FakeUpstream that is down. */
import { toContext } from 'batchflight/core';
import { FakeUpstream } from '@batchflight/testing';

// #region usage
import { stack } from 'batchflight/core';
import { retry } from 'batchflight/retry';
import { circuitBreaker, consecutive } from 'batchflight/circuit-breaker';

// 1. Retry OUTSIDE the breaker: the breaker counts every attempt and opens
//    mid-call; the next attempt meets CircuitOpenError, which is not retried.
//    First call: 3 upstream calls, then CircuitOpenError. Next calls: 0 upstream calls.
const retryOutside = stack(retry({ maxAttempts: 5 }), circuitBreaker({ policy: consecutive(3) }));

// 2. Retry INSIDE the breaker: the breaker sees one outcome per call, after all
//    its retries. 3 failed calls x 5 attempts = 15 upstream calls before it opens.
const retryInside = stack(circuitBreaker({ policy: consecutive(3) }), retry({ maxAttempts: 5 }));
// #endregion

/** Runs retry-outside against a down upstream: the calls the upstream saw. */
export async function upstreamCallsRetryOutside(): Promise<readonly number[]> {
  const upstream = new FakeUpstream<number, string>();
  upstream.down();
  const call = retryOutside.wrap((id: unknown) => upstream.get(id as number));
  const seen: number[] = [];
  for (let i = 0; i < 2; i++) {
    const before = upstream.stats.calls;
    await call(i, toContext()).catch(() => undefined);
    seen.push(upstream.stats.calls - before);
  }
  return seen;
}
export { retryInside };
