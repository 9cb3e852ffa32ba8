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
import { retry, retryBudget, exponentialBackoff } from 'batchflight/retry';
import { toContext } from 'batchflight/core';

const budget = retryBudget(); // share one bucket between the policies in front of one upstream
const policy = retry<number, User>({
  maxAttempts: 4,
  backoff: exponentialBackoff({ initialDelayMs: 50, maxDelayMs: 2_000, jitter: 'full' }),
  retryOn: (error) => (error as { status?: number }).status !== 400,
  budget,
});
const getUser = policy.wrap((id, { signal }) => api.user(id, { signal }));
await getUser(42, toContext({ signal }));
await policy.execute(({ signal }) => api.user(42, { signal }), { signal }); // plain-function form
// #endregion

export const results = { stats: policy.stats() };
