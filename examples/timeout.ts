/** docs/timeout.md: a per-call deadline, on a stand-in API that answers slowly for id 2. */
interface User {
  readonly id: number;
}
const api = {
  async user(id: number, options: { signal: AbortSignal }): Promise<User> {
    await new Promise((resolve) => setTimeout(resolve, id === 2 ? 2_000 : 1));
    options.signal.throwIfAborted();
    return { id };
  },
};
const request = { signal: new AbortController().signal };
export const metrics = { slow: 0 };

// #region usage
import { timeout, TimeoutError } from 'batchflight/timeout';
import { toContext, type CallContext } from 'batchflight/core';

const t = timeout({ ms: 500, name: 'user-api' });
const getUser = t.wrap((id: number, { signal }: CallContext) => api.user(id, { signal }));
try {
  await getUser(2, toContext({ signal: request.signal }));
} catch (error) {
  if (TimeoutError.is(error)) metrics.slow++; // the caller's own abort rejects with its own reason
}
// #endregion

export const results = { user: await getUser(1, toContext()), stats: t.stats() };
