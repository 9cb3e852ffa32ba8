import diagnosticsChannel from 'node:diagnostics_channel';
import { ClosedError, TimeoutError } from 'batchflight';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connect,
  countPrefix,
  dropPrefix,
  redisUnavailable,
  uniquePrefix,
} from './__fixtures__/redis.js';
import { readmeClient } from './__fixtures__/faults.js';
import { deferred, leaderErrorReachesWaiter, until } from './__fixtures__/scenarios.js';
import {
  DistributedFlight,
  type DistributedFlightOptions,
  type DistributedSettledEvent,
  distributedFlightChannels,
} from 'batchflight/singleflight';
import { CodecError } from 'batchflight';
import { RedisUnavailableError } from './errors.js';
import { RedisFlightStore } from './flight-store.js';

const skip = await redisUnavailable();

describe.skipIf(skip !== null)('DistributedFlight on RedisFlightStore', () => {
  const prefix = uniquePrefix('dflight');
  const clients: Redis[] = [];
  const stores: RedisFlightStore[] = [];
  let admin: Redis;
  let seq = 0;
  /** `n` "processes": each its own connection, store and flight, as separate pods would have. */
  const fleet = (
    n: number,
    options: Omit<DistributedFlightOptions, 'store'> = {},
    names?: string[],
  ) => {
    const own = `${prefix}${String(++seq)}:`;
    return Array.from({ length: n }, (_, i) => {
      const client = connect();
      const store = new RedisFlightStore({
        client,
        prefix: own,
        ...(names?.[i] === undefined ? {} : { subscriberName: names[i] }),
      });
      clients.push(client);
      stores.push(store);
      return new DistributedFlight({ store, ...options });
    });
  };
  beforeAll(() => {
    admin = connect();
  });
  afterAll(async () => {
    for (const s of stores) s.close();
    for (const c of clients) c.disconnect();
    await dropPrefix(admin, prefix);
    expect(await countPrefix(admin, prefix)).toBe(0);
    admin.disconnect();
  });

  it('4 processes × 50 concurrent callers: one execution, one participant per process, everyone gets the value', async () => {
    const flights = fleet(4);
    const gate = deferred<undefined>();
    let executions = 0;
    const fn = async () => {
      executions++;
      await gate.promise;
      return { answer: 42 };
    };
    const calls = flights.flatMap((f) => Array.from({ length: 50 }, () => f.run('cold', fn)));
    await until(() => executions === 1 && flights.reduce((n, f) => n + f.stats().waiting, 0) === 3);
    gate.resolve(undefined);
    const values = await Promise.all(calls);
    expect(values).toHaveLength(200);
    for (const v of values) expect(v).toEqual({ answer: 42 });
    expect(executions).toBe(1);
    const stats = flights.map((f) => f.stats());
    expect(stats.reduce((a, s) => a + s.led, 0)).toBe(1);
    expect(stats.reduce((a, s) => a + s.received, 0)).toBe(3);
    expect(stats.every((s) => s.calls === 50 && s.participants === 1)).toBe(true);
  });

  it('the leader error reaches the waiters as an error with its name, message and code', async () => {
    const [a, b] = fleet(2) as [DistributedFlight, DistributedFlight];
    await leaderErrorReachesWaiter(a, b);
  });

  it('a value JSON cannot carry is a CodecError at the leader and an error (not garbage) at the waiters', async () => {
    const [a, b] = fleet(2) as [DistributedFlight, DistributedFlight];
    const gate = deferred<undefined>();
    const fn = async () => {
      await gate.promise;
      return { when: new Date(0) };
    };
    const leader = a.run('codec', fn);
    await until(() => a.stats().led === 1);
    const waiter = b.run('codec', fn);
    await until(() => b.stats().waiting === 1);
    gate.resolve(undefined);
    await expect(leader).rejects.toSatisfy((e: unknown) => CodecError.is(e) && e.path === '$.when');
    await expect(waiter).rejects.toMatchObject({
      name: 'CodecError',
      code: 'ERR_BATCHFLIGHT_CODEC',
      remote: true,
    });
  });

  it('hands fn the same ctx as SingleFlight#run: { signal, scope, key } (issue 11 item 3)', async () => {
    const [a] = fleet(1) as [DistributedFlight];
    const seen = await a.run('ctx', (ctx) => ({
      key: ctx.key,
      scoped: 'scope' in ctx,
      signal: ctx.signal instanceof AbortSignal && !ctx.signal.aborted,
    }));
    expect(seen).toEqual({ key: 'ctx', scoped: true, signal: true });
  });

  it('carries undefined (a void call) and takes a pluggable codec', async () => {
    const codec = {
      encode: (v: unknown) => String((v as Date).getTime()),
      decode: (t: string) => new Date(Number(t)),
    };
    const [a, b] = fleet(2, { codec }) as [DistributedFlight, DistributedFlight];
    const gate = deferred<undefined>();
    const fn = async () => {
      await gate.promise;
      return new Date(1234);
    };
    const leader = a.run('date', fn);
    await until(() => a.stats().led === 1);
    const waiter = b.run('date', fn);
    await until(() => b.stats().waiting === 1);
    gate.resolve(undefined);
    expect(await leader).toEqual(new Date(1234));
    expect(await waiter).toEqual(new Date(1234));
    const [c, d] = fleet(2) as [DistributedFlight, DistributedFlight];
    const g2 = deferred<undefined>();
    const lead2 = c.run('void', () => g2.promise);
    await until(() => c.stats().led === 1);
    const wait2 = d.run('void', () => g2.promise);
    await until(() => d.stats().waiting === 1);
    g2.resolve(undefined);
    const results: unknown[] = await Promise.all([lead2, wait2]);
    expect(results).toEqual([undefined, undefined]);
  });

  it('a waiter that aborts or times out leaves alone; the others still get the value', async () => {
    const [a, b] = fleet(2) as [DistributedFlight, DistributedFlight];
    const gate = deferred<string>();
    const leader = a.run('leave', () => gate.promise);
    await until(() => a.stats().led === 1);
    const controller = new AbortController();
    const leaving = b.run('leave', () => gate.promise, { signal: controller.signal });
    const staying = b.run('leave', () => gate.promise);
    const timingOut = b.run('leave', () => gate.promise, { timeoutMs: 1 }).catch((e: unknown) => e);
    await until(() => b.stats().waiting === 1);
    const reason = new Error('caller went away');
    controller.abort(reason);
    await expect(leaving).rejects.toBe(reason);
    expect(await timingOut).toBeInstanceOf(TimeoutError);
    gate.resolve('v');
    expect(await leader).toBe('v');
    expect(await staying).toBe('v');
  });

  it.each([
    ['honours', true],
    ['ignores', false],
  ] as const)(
    'when every caller of the leader leaves, it aborts the call and releases the lease at once (a call that %s the abort): a waiter takes over',
    async (_, honours) => {
      // A 60 s lease and poll: only the release can hand the flight over within the test.
      const [a, b] = fleet(2, { leaseMs: 60_000, pollMs: 60_000 }) as [
        DistributedFlight,
        DistributedFlight,
      ];
      const controller = new AbortController();
      const stuck = deferred<string>();
      let aborted = false;
      const leader = a.run(
        'handover',
        ({ signal }) => {
          signal.addEventListener('abort', () => {
            aborted = true;
            if (honours) stuck.reject(signal.reason);
          });
          return stuck.promise;
        },
        { signal: controller.signal },
      );
      await until(() => a.stats().led === 1);
      const waiter = b.run('handover', () => 'from b');
      await until(() => b.stats().waiting === 1);
      controller.abort(new Error('bye'));
      await expect(leader).rejects.toThrow('bye');
      expect(await waiter).toBe('from b');
      expect(aborted).toBe(true);
      expect(b.stats().takeovers).toBe(1);
      stuck.resolve('late'); // ends a deaf call (its lease is gone: nothing is published)
    },
  );

  it('survives SCRIPT FLUSH mid-flight (scripts reload after NOSCRIPT)', async () => {
    const [a, b] = fleet(2) as [DistributedFlight, DistributedFlight];
    const gate = deferred<string>();
    const leader = a.run('flush', () => gate.promise);
    await until(() => a.stats().led === 1);
    const waiter = b.run('flush', () => gate.promise);
    await until(() => b.stats().waiting === 1);
    await admin.script('FLUSH');
    gate.resolve('after flush');
    expect(await leader).toBe('after flush');
    expect(await waiter).toBe('after flush');
  });

  it('a waiter whose subscriber connection is killed still gets the outcome after the reconnect', async () => {
    const name = `bf-sub-${String(Date.now())}`;
    const [a, b] = fleet(2, { leaseMs: 60_000, pollMs: 60_000, resultTtlMs: 30_000 }, [
      `${name}-a`,
      `${name}-b`,
    ]) as [DistributedFlight, DistributedFlight];
    const gate = deferred<string>();
    const leader = a.run('reconnect', () => gate.promise);
    await until(() => a.stats().led === 1);
    const waiter = b.run('reconnect', () => gate.promise);
    await until(() => b.stats().waiting === 1);
    const list = await admin.client('LIST');
    const line = String(list)
      .split('\n')
      .find((l) => l.includes(`name=${name}-b `));
    const id = /id=(\d+)/.exec(line ?? '')?.[1];
    expect(id).toBeDefined();
    // Kill the waiter's subscriber and complete while it is away: the message is lost.
    await admin.client('KILL', 'ID', id as string);
    gate.resolve('still delivered');
    expect(await leader).toBe('still delivered');
    // With a 60 s lease and poll, only the reconnect's resync can deliver it within the test timeout.
    expect(await waiter).toBe('still delivered');
  });

  it("runs locally when the store is unreachable ('local'), or fails ('fail')", async () => {
    // Nothing listens on port 1; the client is the README's (ioredis defaults, finding 16c).
    const offline = readmeClient('redis://127.0.0.1:1');
    const store = new RedisFlightStore({ client: offline, prefix });
    const local = new DistributedFlight({ store });
    let runs = 0;
    const values = await Promise.all([1, 2, 3].map(() => local.run('x', () => ++runs)));
    expect(values).toEqual([1, 1, 1]);
    expect(local.stats().local).toBe(1);
    const strict = new DistributedFlight({ store, onUnavailable: 'fail' });
    await expect(strict.run('x', () => 1)).rejects.toBeInstanceOf(RedisUnavailableError);
    store.close();
    offline.disconnect();
  });
  it('reports every participant on onSettled and the batchflight:redis:flight-settled channel; close() refuses new calls', async () => {
    const [a, b] = fleet(2, { name: 'reports' }) as [DistributedFlight, DistributedFlight];
    const hooked: DistributedSettledEvent[] = [];
    const published: unknown[] = [];
    const subscription = a.onSettled((e) => hooked.push(e));
    const onMessage = (message: unknown) => published.push(message);
    diagnosticsChannel.subscribe(distributedFlightChannels.settled.name, onMessage);
    try {
      const gate = deferred<string>();
      const leader = a.run('report', () => gate.promise);
      await until(() => a.stats().led === 1);
      const waiter = b.run('report', () => gate.promise);
      await until(() => b.stats().waiting === 1);
      gate.resolve('ok');
      await Promise.all([leader, waiter]);
      expect(hooked).toEqual([
        {
          name: 'reports',
          key: 'report',
          role: 'leader',
          ok: true,
          fence: expect.any(Number) as number,
        },
      ]);
      expect(published).toHaveLength(2);
      expect(published).toContainEqual({
        name: 'reports',
        key: 'report',
        role: 'waiter',
        ok: true,
        fence: undefined,
      });
    } finally {
      diagnosticsChannel.unsubscribe(distributedFlightChannels.settled.name, onMessage);
      subscription.dispose();
    }
    await a.close();
    await a[Symbol.asyncDispose]();
    await expect(a.run('report', () => 'again')).rejects.toBeInstanceOf(ClosedError);
  });
  it('the leader extends its lease while it runs: a call longer than the lease is not taken over', async () => {
    const [a, b] = fleet(2, { leaseMs: 150 }) as [DistributedFlight, DistributedFlight];
    let executions = 0;
    const slow = async () => {
      executions++;
      // Four leases long (real time: the lease expires on the server's clock).
      await new Promise((resolve) => setTimeout(resolve, 600));
      return 'slow value';
    };
    const leader = a.run('long', slow);
    await until(() => a.stats().led === 1);
    const waiter = b.run('long', slow);
    expect(await Promise.all([leader, waiter])).toEqual(['slow value', 'slow value']);
    expect(executions).toBe(1);
    expect(b.stats()).toMatchObject({ led: 0, takeovers: 0, received: 1 });
  });
});
