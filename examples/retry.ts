/** docs/retry.md: a retry policy with a shared budget, on a stand-in API that fails once. */
interface User {
  readonly id: number;
}
/** Stand-in API: the first call fails with a 503, the next ones answer. */
export const api = {
  calls: 0,
  async user(id: number, _options?: { signal?: AbortSignal }): Promise<User> {
    this.calls++;
    await Promise.resolve();
    if (this.calls === 1) throw Object.assign(new Error('unavailable'), { status: 503 });
    return { id };
  },
};
const signal = new AbortController().signal;

// #region usage
import { retry, retryBudget, defaultIsRetryable } from 'batchflight/retry';
import { exponentialBackoff, toContext, type CallContext } from 'batchflight/core';

const budget = retryBudget(); // share one bucket between the policies in front of one upstream
const policy = retry({
  name: 'user-api',
  maxAttempts: 4,
  backoff: exponentialBackoff({ initialDelayMs: 50, maxDelayMs: 2_000, jitter: 'full' }),
  // The default refuses abort errors and CircuitOpenError; a 400 will not get better either.
  isRetryable: (error) =>
    defaultIsRetryable(error) && (error as { status?: number }).status !== 400,
  budget,
});
const getUser = policy.wrap((id: number, { signal }: CallContext) => api.user(id, { signal }));
await getUser(42, toContext({ signal }));
await policy.execute(({ signal }) => api.user(42, { signal }), { signal }); // plain-function form
// #endregion

export const results = { stats: policy.stats() };
