/** packages/redis/README.md: one flight per key for a fleet, on the Redis at REDIS_URL. */
/** Stand-in report builder: counts its runs. */
export const built = { count: 0 };
const buildReport = async (day: string) => {
  built.count++;
  await Promise.resolve();
  return { day };
};

// #region usage
import { Redis, RedisFlightStore } from '@batchflight/redis';
import { DistributedFlight } from 'batchflight/singleflight';

const redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379');
const store = new RedisFlightStore({ client: redis });
const flights = new DistributedFlight({ store, leaseMs: 5_000 });
const report = await flights.run('report:2026-12-02', () => buildReport('2026-12-02'));

await flights.close(); // then the store (its subscriber connection), then the client
store.close();
redis.disconnect();
// #endregion

export const results = { report };
