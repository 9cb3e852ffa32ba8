import { flightStoreConformance } from '@batchflight/testing';
import type { FlightEvent } from 'batchflight';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy } from './__fixtures__/proxy.js';
import {
  REDIS_URL,
  connect,
  countPrefix,
  dropPrefix,
  redisUnavailable,
  uniquePrefix,
} from './__fixtures__/redis.js';
import { flightLeaseKey, until } from './__fixtures__/scenarios.js';
import { RedisFlightStore } from './flight-store.js';

const skip = await redisUnavailable();

describe.skipIf(skip !== null)('RedisFlightStore', () => {
  const prefix = uniquePrefix('flight-store');
  let client: Redis;
  let other: Redis;
  let seq = 0;
  beforeAll(() => {
    client = connect();
    other = connect();
  });
  afterAll(async () => {
    await dropPrefix(client, prefix);
    expect(await countPrefix(client, prefix)).toBe(0);
    client.disconnect();
    other.disconnect();
  });

  flightStoreConformance('RedisFlightStore', () => {
    const own = `${prefix}${String(++seq)}:`;
    const store = new RedisFlightStore({ client, prefix: own });
    const peer = new RedisFlightStore({ client: other, prefix: own });
    return Promise.resolve({
      store,
      peer,
      expireLease: async (key: string) => {
        await client.del(flightLeaseKey(own, key));
      },
      cleanup: async () => {
        store.close();
        peer.close();
        await dropPrefix(client, own);
      },
    });
  });

  it('after a reconnect, watchers are told resync only once the channel is subscribed again: nothing published after their claim is lost', async () => {
    // Through a proxy that holds the reconnected subscriber's SUBSCRIBE back, so
    // the server sees it only when the test says: a resync that came before
    // would send the watchers to claim while completions still go unheard.
    const proxy = await startProxy(REDIS_URL);
    const via = new Redis(proxy.url, { maxRetriesPerRequest: 3 });
    const own = `${prefix}${String(++seq)}:`;
    const store = new RedisFlightStore({ client: via, prefix: own });
    try {
      const events: FlightEvent[] = [];
      await store.watch('k', (event) => events.push(event));
      const held = proxy.holdNextSubscribe();
      proxy.cutSubscribers();
      await held; // the subscriber reconnected and sent SUBSCRIBE; the server has not seen it
      await via.ping(); // a round trip more for a resync (wrongly) on its way
      expect(events).toEqual([]);
      proxy.release();
      await until(() => events.length > 0);
      expect(events).toEqual([{ kind: 'resync' }]);
      // Told to resync, the watcher claims again: what is published from then on reaches it.
      expect(await other.publish(`${own}flight`, 'd1:kafter resync')).toBe(1);
      await until(() => events.length > 1);
      expect(events[1]).toEqual({ kind: 'done', outcome: 'after resync' });
    } finally {
      store.close();
      via.disconnect();
      await proxy.close();
    }
  });
});
