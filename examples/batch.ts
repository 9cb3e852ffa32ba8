/** docs/batch.md: a batch source with retries, backpressure and a timeout, on a stand-in API. */
interface User {
  readonly id: number;
}
/** Stand-in API with a bulk endpoint: counts its calls. */
export const api = {
  calls: 0,
  async getUsers(ids: readonly number[], _options?: { signal?: AbortSignal }): Promise<User[]> {
    this.calls++;
    await Promise.resolve();
    return ids.map((id) => ({ id }));
  },
};
const store = { putMany: async (ids: readonly string[]) => ids.map((id) => id.length) };
const tenantId = 'tenant-a';
const signal = new AbortController().signal;

// #region usage
import { batch } from 'batchflight/batch';
import { stack, toContext } from 'batchflight/core';
import { exponentialBackoff } from 'batchflight/retry';
import { timeout } from 'batchflight/timeout';

const users = batch({
  load: (ids: number[], ctx) => api.getUsers(ids, { signal: ctx.signal }), // array in key order, Map or record
  maxSize: 100, // a full window leaves at once
  maxWaitMs: 5, // else after 5 ms (0, the default: at the end of the tick, like DataLoader)
  onMissing: 'error', // a key absent from a Map/record result rejects with NotFoundError
  retry: { maxAttempts: 3, backoff: exponentialBackoff({ initialDelayMs: 50 }) }, // only failed items
  maxConcurrentBatches: 4,
  maxPending: 10_000,
  whenFull: 'wait', // or 'reject' (BackpressureError)
});

const ada = await users.load(42); // joins the next bulk call
const both = await users.loadMany([1, 2]); // each entry a value or an Error
await users.load(7, { scope: tenantId, signal, urgent: true });
const guarded = stack(timeout({ ms: 500 })).wrap(users.handler); // a Handler<number, User>
await guarded(3, toContext());
await users.ready(); // producers: wait for room under maxPending
await users.close(); // drains; close({ signal }) forces when signal aborts

// Adaptive window: no size or wait to tune, only the latency you want.
const events = batch({
  load: (ids: string[]) => store.putMany(ids),
  window: 'adaptive',
  latencyTargetMs: 50,
});
// #endregion

export const results = { ada, both, written: await events.load('a') };
await events.close();
