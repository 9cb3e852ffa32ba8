/** docs/rate-limit.md: a limiter in front of an API and a per-user limit, on stand-ins. */
import type { CallContext } from 'batchflight/core';

interface Req {
  readonly userId: string;
  readonly items: readonly string[];
}
/** Stand-in API: counts its calls. */
export const upstream = { calls: 0 };
const fetchItem = async (path: string, _ctx: CallContext): Promise<string> => {
  upstream.calls++;
  await Promise.resolve();
  return `item at ${path}`;
};
const callApi = async () => 'ok';
const signal = new AbortController().signal;
const userId = 'user-1';
const ip = '203.0.113.7';
const tenantId = 'tenant-a';
export const headers = new Map<string, number>();
const reply = { header: (name: string, value: number) => headers.set(name, value) };

// #region usage
import { rateLimit, RateLimitedError } from 'batchflight/rate-limit';
import { SingleFlight } from 'batchflight/singleflight';
import { stack, toContext } from 'batchflight/core';

const flights = new SingleFlight<string>();
// An API that allows 10 calls per second: calls spaced 100 ms apart, callers queue.
const api = rateLimit({
  name: 'items-api',
  rate: 10,
  per: 'second',
  burst: 1,
  whenLimited: 'wait',
  maxQueued: 1_000,
});
const getItem = stack(flights.layer({ key: (p: string) => p }), api).wrap(fetchItem);
await getItem('/v1/items/7', toContext({ signal }));

// Per-user limits answered with 429, 20/s and 1000/min together, weighted by the request's size:
const perUser = rateLimit({
  name: 'per-user',
  limits: [
    { rate: 20, per: 'second' },
    { rate: 1_000, per: 'minute' },
  ],
  key: (req: Req) => req.userId,
  cost: (req) => req.items.length,
  whenLimited: 'reject',
});
try {
  await perUser.acquire({ key: userId, cost: 3, scope: tenantId });
} catch (error) {
  if (RateLimitedError.is(error)) reply.header('retry-after', Math.ceil(error.retryAfterMs / 1000));
}
await api.schedule(() => callApi()); // acquire, then run
const decision = await perUser.tryAcquire({ key: ip }); // ask once, never wait or throw
// #endregion

export const results = { decision };
await api.close();
await perUser.close();
