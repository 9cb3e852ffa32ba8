/**
 * Every store of the package on a real Redis Cluster (3 masters started by
 * the test from the `redis-server` binary), through an ioredis `Cluster`:
 * the keys' hash tags keep each script within one slot, scripts reach the
 * master of their keys (after `NOSCRIPT` too), and pub/sub crosses masters.
 */
import { MemoryCacheStore, tieredStore } from 'batchflight/cache';
import {
  cacheStoreConformance,
  flightStoreConformance,
  rateLimitStoreConformance,
} from '@batchflight/testing/conformance';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestCluster, clusterUnavailable, startCluster } from './__fixtures__/cluster.js';
import { countPrefix, dropPrefix, uniquePrefix } from './__fixtures__/redis.js';
import {
  chargesSeveralLimitsAtomically,
  deferred,
  flightLeaseKey,
  leaderErrorReachesWaiter,
  until,
} from './__fixtures__/scenarios.js';
import { RedisCacheStore } from './cache-store.js';
import { DistributedFlight } from 'batchflight/singleflight';
import { RedisFlightStore } from './flight-store.js';
import { RedisRateLimitStore } from './rate-limit-store.js';

const skip = clusterUnavailable();

/** `calls` of `command` on each master since the last `CONFIG RESETSTAT`, in `cluster.nodes('master')` order. */
async function commandCalls(client: Cluster, command: string): Promise<number[]> {
  return Promise.all(
    client.nodes('master').map(async (node) => {
      const info = await node.info('commandstats');
      const match = new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info);
      return Number(match?.[1] ?? 0);
    }),
  );
}

describe.skipIf(skip !== null)('on a 3-master Redis Cluster', () => {
  const prefix = uniquePrefix('cluster');
  let cluster: TestCluster | undefined;
  let client: Cluster;
  let other: Cluster;
  const opened: Cluster[] = [];
  let seq = 0;
  const connect = (): Cluster => {
    const c = (cluster as TestCluster).connect();
    opened.push(c);
    return c;
  };
  const own = () => `${prefix}${String(++seq)}:`;

  beforeAll(async () => {
    cluster = await startCluster(3);
    client = connect();
    other = connect();
    await Promise.all([client, other].map((c) => c.ping()));
    expect(client.nodes('master')).toHaveLength(3);
  });
  afterAll(async () => {
    if (cluster === undefined) return; // startCluster failed: its error is the report
    try {
      await dropPrefix(client, prefix);
      expect(await countPrefix(client, prefix)).toBe(0);
    } finally {
      for (const c of opened) c.disconnect();
      await cluster.stop();
    }
  });

  cacheStoreConformance('RedisCacheStore on Cluster', () => {
    const p = own();
    const store = new RedisCacheStore({ client, prefix: p });
    return Promise.resolve({
      store,
      cleanup: async () => {
        store.close();
        await dropPrefix(client, p);
      },
    });
  });

  cacheStoreConformance('tieredStore(MemoryCacheStore, RedisCacheStore) on Cluster', async () => {
    const p = own();
    const store = tieredStore(new MemoryCacheStore(), new RedisCacheStore({ client, prefix: p }));
    await store.ready;
    return {
      store,
      cleanup: async () => {
        await store.close();
        await dropPrefix(client, p);
      },
    };
  });

  rateLimitStoreConformance('RedisRateLimitStore on Cluster', () => {
    const p = own();
    const store = new RedisRateLimitStore({ client, prefix: p });
    return Promise.resolve({
      store,
      cleanup: async () => {
        store.close();
        await dropPrefix(client, p);
      },
    });
  });

  flightStoreConformance('RedisFlightStore on Cluster', () => {
    const p = own();
    const store = new RedisFlightStore({ client, prefix: p });
    const peer = new RedisFlightStore({ client: other, prefix: p });
    return Promise.resolve({
      store,
      peer,
      expireLease: async (key: string) => {
        await client.del(flightLeaseKey(p, key));
      },
      cleanup: async () => {
        store.close();
        peer.close();
        await dropPrefix(client, p);
      },
    });
  });

  it('distributed single flight: callers on two stores and clients, one execution, every caller gets the value', async () => {
    const p = own();
    const stores = [connect(), connect()].map(
      (c, i) =>
        new RedisFlightStore({ client: c, prefix: p, subscriberName: `bf-sub-${String(i)}` }),
    );
    const [a, b] = stores.map((store) => new DistributedFlight({ store })) as [
      DistributedFlight,
      DistributedFlight,
    ];
    const gate = deferred<undefined>();
    let executions = 0;
    const fn = async () => {
      executions++;
      await gate.promise;
      return { answer: 42 };
    };
    // Several keys, so the flights' keys land in several slots, on several masters.
    const keys = ['alpha', 'beta', 'gamma', 'delta'];
    const calls = keys.flatMap((key) => [
      ...Array.from({ length: 10 }, () => a.run(key, fn)),
      ...Array.from({ length: 10 }, () => b.run(key, fn)),
    ]);
    await until(() => executions === keys.length && a.stats().waiting + b.stats().waiting === 4);
    gate.resolve(undefined);
    const values = await Promise.all(calls);
    expect(values).toHaveLength(80);
    for (const v of values) expect(v).toEqual({ answer: 42 });
    expect(executions).toBe(keys.length);
    expect(a.stats().led + b.stats().led).toBe(keys.length);
    expect(a.stats().received + b.stats().received).toBe(keys.length);
    for (const s of stores) s.close();
  });

  it("distributed single flight: the leader's error reaches the waiter as an error", async () => {
    const p = own();
    const stores = [connect(), connect()].map(
      (c) => new RedisFlightStore({ client: c, prefix: p }),
    );
    const [a, b] = stores.map((store) => new DistributedFlight({ store })) as [
      DistributedFlight,
      DistributedFlight,
    ];
    await leaderErrorReachesWaiter(a, b);
    for (const s of stores) s.close();
  });

  it('two-tier cache: key, tag, clear and version invalidations reach every process', async () => {
    const p = own();
    const versions: unknown[] = [];
    const fleet = [connect(), connect(), connect()].map((c) => {
      const l1 = new MemoryCacheStore();
      const store = tieredStore(l1, new RedisCacheStore({ client: c, prefix: p }), {
        onVersion: (ns, v) => versions.push([ns, v]),
      });
      return { l1, store };
    });
    await Promise.all(fleet.map((f) => f.store.ready));
    const [a, b, c] = fleet as [
      (typeof fleet)[number],
      (typeof fleet)[number],
      (typeof fleet)[number],
    ];
    const entry = (value: unknown, tags?: string[]) => ({
      value,
      expiresAt: Date.now() + 60_000,
      staleUntil: Date.now() + 120_000,
      computeMs: 1,
      ...(tags === undefined ? {} : { tags }),
    });

    await a.store.set('k', entry('v1', ['t']));
    await a.store.set('other', entry('o'));
    expect((await b.store.get('k'))?.value).toBe('v1');
    expect((await c.store.get('k'))?.value).toBe('v1');
    expect((await b.store.get('other'))?.value).toBe('o');

    expect(await a.store.delete('k')).toBe(true);
    await until(() => b.l1.get('k') === undefined && c.l1.get('k') === undefined);
    expect(b.l1.get('other')).toBeDefined();

    await a.store.set('k2', entry('v2', ['t']));
    expect((await c.store.get('k2'))?.value).toBe('v2');
    expect(await b.store.invalidateTags(['t'])).toBe(1);
    await until(() => c.l1.get('k2') === undefined);

    await c.store.clear();
    await until(() => a.l1.get('other') === undefined && b.l1.get('other') === undefined);
    expect(await a.store.get('other')).toBeUndefined();

    await new RedisCacheStore({ client, prefix: p }).publishVersion('users:', 7);
    await until(() => versions.length === 3);
    for (const f of fleet) await f.store.close();
  });

  it('clear() removes every key of the store by scanning only the master that owns its slot', async () => {
    const p = own();
    const store = new RedisCacheStore({ client, prefix: p });
    const bystander = `${prefix}bystander:`;
    const kept = new RedisCacheStore({ client, prefix: bystander });
    const entry = (value: unknown, tags: string[]) => ({
      value,
      expiresAt: Date.now() + 60_000,
      staleUntil: Date.now() + 120_000,
      computeMs: 1,
      tags,
    });
    for (let i = 0; i < 300; i++) await store.set(`k${String(i)}`, entry(i, [`t${String(i % 7)}`]));
    await kept.set('stays', entry('x', ['t0']));
    // Keys of other slots on every master, so each master has something to scan.
    for (let i = 0; i < 30; i++) await client.set(`${p}elsewhere:${String(i)}`, 'x');
    const before = await countPrefix(client, p);
    expect(before).toBe(300 + 7 + 30);

    await Promise.all(client.nodes('master').map((node) => node.config('RESETSTAT')));
    await store.clear();
    // One master scanned (the owner of the {cache} slot); the other two were not asked.
    const scans = await commandCalls(client, 'scan');
    expect(scans.filter((n) => n > 0)).toHaveLength(1);

    expect(await countPrefix(client, `${p}{cache}:`)).toBe(0);
    expect(await countPrefix(client, `${p}elsewhere:`)).toBe(30);
    expect((await kept.get('stays'))?.value).toBe('x');
    store.close();
    kept.close();
  });

  it('multi-limit acquisition is all-or-nothing under concurrency from several Cluster clients', async () => {
    const p = own();
    const stores = [connect(), connect(), connect(), connect()].map(
      (c) => new RedisRateLimitStore({ client: c, prefix: p }),
    );
    await chargesSeveralLimitsAtomically(stores);
  });

  it('scripts reach the master of their keys after SCRIPT FLUSH on every master (NOSCRIPT)', async () => {
    const p = own();
    const limits = new RedisRateLimitStore({ client, prefix: p });
    const cache = new RedisCacheStore({ client, prefix: p });
    const flightStore = new RedisFlightStore({ client, prefix: p });
    const flight = new DistributedFlight({ store: flightStore });
    const rule = { key: 'flush', rate: 1, perMs: 60_000, burst: 3 };
    await Promise.all(client.nodes('master').map((node) => node.script('FLUSH')));
    const decisions = await Promise.all(
      Array.from({ length: 4 }, () => limits.acquire({ rules: [rule], cost: 1 })),
    );
    expect(decisions.filter((d) => d.allowed)).toHaveLength(3);
    await cache.set('k', {
      value: 1,
      expiresAt: Date.now() + 60_000,
      staleUntil: Date.now() + 60_000,
      computeMs: 1,
      tags: ['t'],
    });
    expect(await cache.invalidateTags(['t'])).toBe(1);
    for (const key of ['a', 'b', 'c', 'd', 'e']) expect(await flight.run(key, () => key)).toBe(key);
    expect(flight.stats().led).toBe(5);
    cache.close();
    await flight.close();
    flightStore.close();
  });
});
