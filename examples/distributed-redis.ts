/**
 * docs/distributed-redis.md: one flight, one cache and one rate limit for a
 * fleet, on the Redis at REDIS_URL (default the local one). It runs to exit:
 * the stores' subscriber connections are closed before the client.
 */
interface User {
  readonly id: number;
}
/** Stand-ins for the expensive work: count what reached them. */
export const upstream = { reports: 0, queries: 0 };
const buildReport = async (day: string, _options: { signal: AbortSignal }) => {
  upstream.reports++;
  await new Promise((resolve) => setTimeout(resolve, 5));
  return { day, total: 42 };
};
const log = { warn: (..._what: unknown[]) => undefined };
const db = {
  findUser: async (id: number): Promise<User> => {
    upstream.queries++;
    await Promise.resolve();
    return { id };
  },
};
const day = '2026-12-02';
const id = 7;

// #region usage
import { Redis, RedisCacheStore, RedisFlightStore, RedisRateLimitStore } from '@batchflight/redis';
import { MemoryCacheStore, cache, tieredStore } from 'batchflight/cache';
import { DistributedFlight } from 'batchflight/singleflight';
import { rateLimit } from 'batchflight/rate-limit';

const redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379');
redis.on('error', (error) => {
  log.warn('redis', error.message);
}); // ioredis reconnects by itself

// One flight per key across the fleet: 8 pods × 500 concurrent callers → 1 upstream call.
const flightStore = new RedisFlightStore({ client: redis });
const flights = new DistributedFlight({ store: flightStore, leaseMs: 5_000, name: 'reports' });
const report = await flights.run(
  `report:${day}`,
  (ctx) => buildReport(day, { signal: ctx.signal }),
  {
    timeoutMs: 10_000,
  },
);

// Two-tier cache: memory L1 per process, Redis L2, invalidations broadcast to every L1;
// a miss anywhere is one upstream call fleet-wide when the computation goes through the flight.
// Each call waits at most commandTimeoutMs for Redis (default 1000 ms), then the cache
// answers that read as a miss; while the client is reconnecting, at once.
const l2 = new RedisCacheStore({ client: redis, prefix: 'app:', commandTimeoutMs: 250 });
const store = tieredStore(new MemoryCacheStore({ maxEntries: 10_000 }), l2, {
  onVersion: (_namespace, version) => {
    users.setVersion(version);
  },
  // Redis down at start (or not answering): reads go on from L1 and L2 as they answer,
  // and the store listens again every resubscribeMs (default 1 s).
  onError: (error) => {
    log.warn('cache invalidations not received', error);
  },
});
const users = cache({ ttlMs: 60_000, staleWhileRevalidateMs: 30_000, store });
const user = await users.get(`user:${String(id)}`, ({ signal }) =>
  flights.run(`user:${String(id)}`, () => db.findUser(id), { signal }),
);
await users.invalidate(`user:${String(id)}`); // every process drops its L1 copy

// One rate limit for the fleet: 20/s and 1000/min charged all or nothing, on the server's clock.
const limits = new RedisRateLimitStore({
  client: redis,
  onUnavailable: 'local',
  expectedInstances: 8,
});
const perUser = rateLimit({
  limits: [
    { rate: 20, per: 'second' },
    { rate: 1_000, per: 'minute' },
  ],
  store: limits,
});
await perUser.acquire({ key: `user:${String(id)}` });

// Shutdown: everything that holds a connection, then the client. The flight
// store and the tiered store each keep a subscriber connection open until closed;
// a cache or a limiter does not close a store it was given.
await perUser.close();
limits.close();
await users.close();
await store.close(); // closes L1 and L2
await flights.close();
flightStore.close();
redis.disconnect();
// #endregion

export const results = { report, user };
