/**
 * Child process of `close.test.ts`: uses every store of the package on the
 * client the README shows (`new Redis(url)`), closes the stores, disconnects
 * the client, and must then exit by itself (finding 14: the subscriber
 * connections of the flight and tiered stores held it open). It never calls
 * process.exit: the parent sees whether the event loop empties.
 *
 * argv: the Redis URL, and a key prefix.
 */
import { cache, MemoryCacheStore, tieredStore } from 'batchflight/cache';
import { rateLimit } from 'batchflight/rate-limit';
import { Redis } from 'ioredis';
import { RedisCacheStore } from '../cache-store.js';
import { DistributedFlight } from 'batchflight/singleflight';
import { RedisFlightStore } from '../flight-store.js';
import { RedisRateLimitStore } from '../rate-limit-store.js';

const [url = 'redis://127.0.0.1:6379', prefix = 'bfclose:'] = process.argv.slice(2);
const redis = new Redis(url);
redis.on('error', () => undefined);

const flightStore = new RedisFlightStore({ client: redis, prefix });
const flights = new DistributedFlight({ store: flightStore });
const store = tieredStore(new MemoryCacheStore(), new RedisCacheStore({ client: redis, prefix }));
await store.ready.catch(() => undefined);
const users = cache({ ttlMs: 1000, store });
const limiter = rateLimit({
  rate: 1000,
  per: 'second',
  // With Redis down the store refuses (fail-closed): a waiting caller would wait for Redis.
  whenLimited: 'reject',
  store: new RedisRateLimitStore({ client: redis, prefix }),
});

const value = await users.get('u', () => flights.run('u', () => 'v'));
const admitted = await limiter.acquire().then(
  () => true,
  () => false,
);
console.log(JSON.stringify({ value, admitted }));

await users.close();
await flights.close();
await store.close();
flightStore.close();
await limiter.close();
redis.disconnect();
