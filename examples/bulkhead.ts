/** docs/bulkhead.md: bounded concurrency with a queue, on a stand-in handler. */
import type { CallContext } from 'batchflight/core';

interface User {
  readonly id: number;
}
const fetchUser = async (id: number, _ctx: CallContext): Promise<User> => {
  await Promise.resolve();
  return { id };
};
const signal = new AbortController().signal;

// #region usage
import { bulkhead, BulkheadFullError } from 'batchflight/bulkhead';
import { toContext } from 'batchflight/core';

const pool = bulkhead({ name: 'user-api', maxConcurrent: 10, maxQueued: 100 });
const getUser = pool.wrap(fetchUser); // a Handler<number, User>: the types come from fetchUser
await pool.ready({ signal }); // backpressure: wait for room instead of catching BulkheadFullError
await getUser(1, toContext({ urgent: true })); // jumps the queue
await pool.close({ timeoutMs: 5_000 }); // drain; after 5 s the queued calls get ClosedError
// #endregion

export const results = { stats: pool.stats(), fullError: BulkheadFullError.name };
