import { afterEach, describe, expect, it } from 'vitest';
import { deferred } from '@batchflight/testing';
import { call, json, until } from './__fixtures__/upstream.js';
import { setup, type Setup } from './__fixtures__/setup.js';

let current: Setup | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

const statsOf = (s: Setup, index = 0) => {
  const stats = s.gateway.stats()[index];
  if (stats === undefined) throw new Error('no such route');
  return stats;
};

describe('coalesce', () => {
  it('answers 100 concurrent identical GETs with one upstream call, however long it takes', async () => {
    const release = deferred<undefined>();
    const s = (current = await setup(
      [{ method: 'GET', path: '/items/:id', policies: [{ coalesce: {} }] }],
      async (received, response) => {
        await release.promise;
        json(response, 200, { url: received.url });
      },
    ));
    const answers = Promise.all(Array.from({ length: 100 }, () => call(s.base, '/items/7?x=1')));
    await until(() => statsOf(s).requests === 100, '100 requests at the gateway');
    // Far beyond nginx's proxy_cache_lock_timeout (5 s): the waiters keep waiting for the one call.
    await s.clock.advance(10 * 60_000);
    release.resolve(undefined);
    const results = await answers;
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(results.map((r) => (r.body as { url: string }).url)).toEqual(
      Array(100).fill('/items/7?x=1'),
    );
    expect(s.upstream.received).toHaveLength(1);
    expect(statsOf(s)).toMatchObject({ requests: 100, upstreamCalls: 1, saved: 99 });
  });

  it('never shares an answer between tenants or between credentials', async () => {
    const release = deferred<undefined>();
    const s = (current = await setup(
      [{ method: 'GET', path: '/me', policies: [{ coalesce: {} }] }],
      async (received, response) => {
        await release.promise;
        json(response, 200, {
          tenant: received.headers['x-tenant-id'] ?? null,
          auth: received.headers.authorization ?? null,
        });
      },
    ));
    const callers = [
      { 'x-tenant-id': 'a', authorization: 'Bearer 1' },
      { 'x-tenant-id': 'a', authorization: 'Bearer 1' },
      { 'x-tenant-id': 'a', authorization: 'Bearer 2' },
      { 'x-tenant-id': 'b', authorization: 'Bearer 1' },
    ];
    const answers = Promise.all(callers.map((headers) => call(s.base, '/me', { headers })));
    await until(() => s.upstream.received.length === 3, 'three distinct upstream calls');
    release.resolve(undefined);
    const results = await answers;
    expect(results.map((r) => r.body)).toEqual(
      callers.map((h) => ({ tenant: h['x-tenant-id'], auth: h.authorization })),
    );
    expect(s.upstream.received).toHaveLength(3);
  });

  it('releases an aborted client alone; the upstream call is cancelled when its last waiter left', async () => {
    const s = (current = await setup(
      [{ method: 'GET', path: '/slow', policies: [{ coalesce: {} }] }],
      // /slow never answers; /slow?other answers at once
      (received, response) => {
        if (received.url.endsWith('other')) json(response, 200, {});
      },
    ));
    const first = new AbortController();
    const second = new AbortController();
    const one = call(s.base, '/slow', { signal: first.signal }).catch((e: unknown) => e);
    const two = call(s.base, '/slow', { signal: second.signal }).catch((e: unknown) => e);
    await until(() => statsOf(s).requests === 2 && s.upstream.received.length === 1);
    first.abort();
    await one;
    // The other waiter is still there: the shared upstream call goes on.
    expect((await call(s.base, '/slow?other')).status).toBe(200);
    expect(s.upstream.received[0]?.aborted).toBe(false);
    second.abort();
    await two;
    await until(
      () => s.upstream.received[0]?.aborted === true,
      'the upstream call to be cancelled',
    );
  });
});

describe('cache', () => {
  it('serves within the TTL, per tenant, and goes upstream again after it', async () => {
    let n = 0;
    const s = (current = await setup(
      [{ method: 'GET', path: '/config', policies: [{ cache: { ttlMs: 1_000 } }] }],
      (_received, response) => {
        json(response, 200, { n: ++n });
      },
    ));
    const a = { 'x-tenant-id': 'a' };
    expect((await call(s.base, '/config', { headers: a })).body).toEqual({ n: 1 });
    expect((await call(s.base, '/config', { headers: a })).body).toEqual({ n: 1 });
    expect((await call(s.base, '/config', { headers: { 'x-tenant-id': 'b' } })).body).toEqual({
      n: 2,
    });
    await s.clock.advance(1_000);
    expect((await call(s.base, '/config', { headers: a })).body).toEqual({ n: 3 });
    expect(s.upstream.received).toHaveLength(3);
  });

  it('takes the tenant from the configured header', async () => {
    let n = 0;
    const s = (current = await setup(
      [{ method: 'GET', path: '/config', policies: [{ cache: { ttlMs: 1_000 } }] }],
      (_received, response) => {
        json(response, 200, { n: ++n });
      },
      { tenant: { header: 'x-org' } },
    ));
    await call(s.base, '/config', { headers: { 'x-org': 'a' } });
    await call(s.base, '/config', { headers: { 'x-org': 'b' } });
    await call(s.base, '/config', { headers: { 'x-org': 'a' } });
    expect(s.upstream.received).toHaveLength(2);
  });

  it('honours no-store, private and a shorter max-age', async () => {
    let n = 0;
    const control: Record<string, string> = {
      '/no-store': 'no-store',
      '/private': 'private, max-age=60',
      '/short': 'max-age=1',
    };
    const s = (current = await setup(
      [{ method: 'GET', path: '/:name', policies: [{ cache: { ttlMs: 60_000 } }] }],
      (received, response) => {
        json(response, 200, { n: ++n }, { 'cache-control': control[received.url] ?? '' });
      },
    ));
    for (const path of ['/no-store', '/private', '/short']) {
      await call(s.base, path);
      await call(s.base, path);
    }
    // no-store and private go upstream every time; max-age=1 is served from the cache...
    expect(s.upstream.received.map((r) => r.url)).toEqual([
      '/no-store',
      '/no-store',
      '/private',
      '/private',
      '/short',
    ]);
    // ...until its own second is over, though the route's TTL is a minute.
    await s.clock.advance(1_000);
    await call(s.base, '/short');
    expect(s.upstream.received).toHaveLength(6);
  });

  it('serves the stale answer when the upstream fails within staleIfErrorMs', async () => {
    let fail = false;
    const s = (current = await setup(
      [
        {
          method: 'GET',
          path: '/rates',
          policies: [{ cache: { ttlMs: 1_000, staleIfErrorMs: 60_000 } }],
        },
      ],
      (_received, response) => {
        if (fail) json(response, 503, { down: true });
        else json(response, 200, { eur: 1.1 });
      },
    ));
    await call(s.base, '/rates');
    fail = true;
    await s.clock.advance(2_000);
    const stale = await call(s.base, '/rates');
    expect(stale).toMatchObject({ status: 200, body: { eur: 1.1 } });
  });
});

describe('protection', () => {
  it('answers 504 when the upstream hangs past the route timeout', async () => {
    const s = (current = await setup(
      [{ method: 'GET', path: '/hang', policies: [{ timeout: { ms: 500 } }] }],
      () => undefined,
    ));
    const answer = call(s.base, '/hang');
    await until(() => s.upstream.received.length === 1);
    await s.clock.advance(500);
    const result = await answer;
    expect(result.status).toBe(504);
    expect(result.body).toMatchObject({ error: { reason: 'upstream-timeout' } });
    await until(() => s.upstream.received[0]?.aborted === true, 'the hung call to be cancelled');
  });

  it('opens the breaker after consecutive 5xx and then answers 503 without calling the upstream', async () => {
    const s = (current = await setup(
      [{ method: 'GET', path: '/flaky', policies: [{ breaker: { failures: 2 } }] }],
      (_received, response) => {
        json(response, 500, { oops: true });
      },
    ));
    expect((await call(s.base, '/flaky')).status).toBe(500);
    expect((await call(s.base, '/flaky')).status).toBe(500);
    const open = await call(s.base, '/flaky');
    expect(open.status).toBe(503);
    expect(open.body).toMatchObject({ error: { reason: 'circuit-open' } });
    expect(Number(open.headers['retry-after'])).toBeGreaterThan(0);
    expect(s.upstream.received).toHaveLength(2);
  });

  it('answers 429 with Retry-After beyond the rate, per tenant', async () => {
    const s = (current = await setup(
      [
        {
          method: 'GET',
          path: '/search',
          policies: [{ rateLimit: { rate: 1, per: 'minute', burst: 1 } }],
        },
      ],
      (_received, response) => {
        json(response, 200, {});
      },
    ));
    const a = { 'x-tenant-id': 'a' };
    expect((await call(s.base, '/search', { headers: a })).status).toBe(200);
    const limited = await call(s.base, '/search', { headers: a });
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('60');
    expect((await call(s.base, '/search', { headers: { 'x-tenant-id': 'b' } })).status).toBe(200);
  });

  it('answers 503 with Retry-After when the bulkhead and its queue are full', async () => {
    const release = deferred<undefined>();
    const s = (current = await setup(
      [
        {
          method: 'GET',
          path: '/report/:n',
          policies: [{ bulkhead: { maxConcurrent: 1, maxQueued: 0, retryAfterSeconds: 2 } }],
        },
      ],
      async (_received, response) => {
        await release.promise;
        json(response, 200, {});
      },
    ));
    const first = call(s.base, '/report/1');
    await until(() => s.upstream.received.length === 1);
    const refused = await call(s.base, '/report/2');
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('2');
    release.resolve(undefined);
    expect((await first).status).toBe(200);
  });

  it('retries an idempotent call after a 503, honouring Retry-After', async () => {
    let n = 0;
    const s = (current = await setup(
      [{ method: 'GET', path: '/once', policies: [{ retry: { maxAttempts: 2 } }] }],
      (_received, response) => {
        if (++n === 1) json(response, 503, {}, { 'retry-after': '3' });
        else json(response, 200, { n });
      },
    ));
    const answer = call(s.base, '/once');
    await until(() => s.clock.pendingTimers > 0 && s.upstream.received.length === 1);
    await s.clock.advance(3_000);
    expect(await answer).toMatchObject({ status: 200, body: { n: 2 } });
  });
});

describe('HTTP edges', () => {
  it('answers an unknown route, a bad tenant header and an oversized body with JSON errors', async () => {
    const s = (current = await setup(
      [{ method: 'POST', path: '/echo', policies: [] }],
      (received, response) => {
        json(response, 200, { body: received.body });
      },
      { bodyLimitBytes: 16 },
    ));
    expect(await call(s.base, '/nope')).toMatchObject({
      status: 404,
      body: { error: { reason: 'no-route' } },
    });
    expect(
      await call(s.base, '/echo', { method: 'POST', headers: { 'x-tenant-id': 'a b/../c' } }),
    ).toMatchObject({ status: 400, body: { error: { reason: 'tenant-header' } } });
    expect(await call(s.base, '/echo', { method: 'POST', body: 'x'.repeat(17) })).toMatchObject({
      status: 413,
      body: { error: { reason: 'body-too-large' } },
    });
    expect(await call(s.base, '/echo', { method: 'POST', body: 'hello' })).toMatchObject({
      status: 200,
      body: { body: 'hello' },
    });
    expect(s.upstream.received).toHaveLength(1);
  });

  it('serves /healthz, /readyz and /metrics with the calls saved', async () => {
    const s = (current = await setup(
      [{ method: 'GET', path: '/c', policies: [{ cache: { ttlMs: 60_000 } }] }],
      (_received, response) => {
        json(response, 200, {});
      },
    ));
    await call(s.base, '/c');
    await call(s.base, '/c');
    expect((await call(s.base, '/healthz')).status).toBe(200);
    expect((await call(s.base, '/readyz')).status).toBe(200);
    const metrics = (await call(s.base, '/metrics')).body as string;
    expect(metrics).toContain('batchflight_gateway_upstream_calls_saved_total{route="GET /c"} 1');
  });

  it('closes gracefully: the request in flight gets its answer, then the port is closed', async () => {
    const release = deferred<undefined>();
    const s = (current = await setup(
      [{ method: 'GET', path: '/slow', policies: [] }],
      async (_received, response) => {
        await release.promise;
        json(response, 200, { done: true });
      },
    ));
    const inFlight = call(s.base, '/slow');
    await until(() => s.upstream.received.length === 1);
    const closed = s.gateway.close();
    release.resolve(undefined);
    expect(await inFlight).toMatchObject({ status: 200, body: { done: true } });
    await closed;
    await expect(call(s.base, '/slow')).rejects.toThrow();
    await s.gateway.close(); // idempotent
  });
});

describe('reload', () => {
  it('swaps the routes without dropping the request in flight; an invalid config is refused', async () => {
    const release = deferred<undefined>();
    const s = (current = await setup(
      [{ method: 'GET', path: '/old', policies: [] }],
      async (received, response) => {
        if (received.url === '/old') await release.promise;
        json(response, 200, { url: received.url });
      },
    ));
    const inFlight = call(s.base, '/old');
    await until(() => s.upstream.received.length === 1);
    const route = { method: 'GET' as const, path: '/new', upstream: 'api' };
    const next = {
      listen: { host: '127.0.0.1', port: 0 },
      upstreams: { api: { url: s.upstream.url } },
      routes: [route],
    };
    await expect(
      s.gateway.reload({ ...next, routes: [{ ...route, upstream: 'nope' }] }),
    ).rejects.toThrow(/expected one of the upstreams/);
    const reloaded = s.gateway.reload(next);
    expect((await call(s.base, '/new')).status).toBe(200);
    expect((await call(s.base, '/old')).status).toBe(404);
    release.resolve(undefined);
    expect(await inFlight).toMatchObject({ status: 200, body: { url: '/old' } });
    await reloaded;
  });
});
