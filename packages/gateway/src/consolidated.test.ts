import { afterEach, describe, expect, it } from 'vitest';
import { deferred } from '@batchflight/testing';
import { call, json, until } from './__fixtures__/upstream.js';
import { setup, type Setup } from './__fixtures__/setup.js';
import type { SubResponse } from './consolidated.js';

let current: Setup | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

const post = (s: Setup, value: unknown, headers: Record<string, string> = {}) =>
  call(s.base, '/batch', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof value === 'string' ? value : JSON.stringify(value),
  });

const routes = [
  { method: 'GET' as const, path: '/users/:id', policies: [{ coalesce: {} }] },
  { method: 'GET' as const, path: '/orders', policies: [{ coalesce: {} }] },
  { method: 'POST' as const, path: '/events', policies: [] },
];

describe('POST /batch', () => {
  it('runs independent sub-requests in parallel, a dependent one after, with its reference filled', async () => {
    const release = deferred<undefined>();
    const s = (current = await setup(routes, async (received, response) => {
      if (received.url.startsWith('/users/')) {
        await release.promise; // held until every independent sub-request has arrived
        json(response, 200, {
          id: Number(received.url.slice(7)),
          tenant: received.headers['x-tenant-id'],
        });
      } else if (received.url.startsWith('/orders')) {
        json(response, 200, { url: received.url });
      } else {
        json(response, 201, { got: JSON.parse(received.body) as unknown });
      }
    }));
    const answer = post(
      s,
      {
        requests: [
          { id: 'me', method: 'GET', url: '/users/1' },
          { id: 'friend', method: 'GET', url: '/users/2' },
          { id: 'me-again', method: 'GET', url: '/users/1' },
          { id: 'orders', method: 'GET', url: '/orders?user={{me.body.id}}', dependsOn: ['me'] },
          {
            id: 'event',
            method: 'POST',
            url: '/events',
            body: { user: '{{me.body.id}}', note: 'friend {{friend.body.id}}' },
            dependsOn: ['me', 'friend'],
          },
        ],
      },
      { 'x-tenant-id': 'acme' },
    );
    // Both users are asked before either answers: the independent ones run in parallel, and the
    // two identical sub-requests coalesced into one upstream call.
    await until(() => s.upstream.received.length === 2, 'two parallel user calls');
    release.resolve(undefined);
    const result = await answer;
    expect(result.status).toBe(200);
    const responses = (result.body as { responses: SubResponse[] }).responses;
    expect(responses.map((r) => [r.id, r.status])).toEqual([
      ['me', 200],
      ['friend', 200],
      ['me-again', 200],
      ['orders', 200],
      ['event', 201],
    ]);
    expect(responses[0]?.body).toEqual({ id: 1, tenant: 'acme' });
    expect(responses[3]?.body).toEqual({ url: '/orders?user=1' });
    expect(responses[4]?.body).toEqual({ got: { user: 1, note: 'friend 2' } });
    expect(s.upstream.received).toHaveLength(4);
  });

  it('takes more than 20 sub-requests, and one failure never fails the others', async () => {
    const s = (current = await setup(routes, (received, response) => {
      if (received.url === '/users/13') json(response, 500, { broken: true });
      else json(response, 200, { url: received.url });
    }));
    const requests = Array.from({ length: 50 }, (_, i) => ({
      id: `u${String(i)}`,
      method: 'GET',
      url: `/users/${String(i)}`,
    }));
    requests.push({ id: 'dependent', method: 'GET', url: '/orders', dependsOn: ['u13'] } as never);
    requests.push({ id: 'nowhere', method: 'GET', url: '/nowhere' });
    const result = await post(s, { requests });
    const responses = (result.body as { responses: SubResponse[] }).responses;
    expect(responses).toHaveLength(52);
    expect(responses.filter((r) => r.status === 200)).toHaveLength(49);
    expect(responses.find((r) => r.id === 'u13')?.status).toBe(500);
    expect(responses.find((r) => r.id === 'dependent')).toMatchObject({
      status: 424,
      body: { error: { reason: 'failed-dependency' } },
    });
    expect(responses.find((r) => r.id === 'nowhere')?.status).toBe(404);
  });

  it('refuses malformed JSON, a cycle, an unknown dependency and too many sub-requests with a 400', async () => {
    const s = (current = await setup(
      routes,
      (_received, response) => {
        json(response, 200, {});
      },
      {
        consolidated: { path: '/batch', maxRequests: 3 },
      },
    ));
    expect(await post(s, '{"requests": [')).toMatchObject({
      status: 400,
      body: { error: { reason: 'malformed-json' } },
    });
    const cycle = await post(s, {
      requests: [
        { id: 'a', method: 'GET', url: '/orders', dependsOn: ['b'] },
        { id: 'b', method: 'GET', url: '/orders', dependsOn: ['a'] },
      ],
    });
    expect(cycle).toMatchObject({ status: 400, body: { error: { reason: 'dependency-cycle' } } });
    expect((cycle.body as { error: { message: string } }).error.message).toContain('a → b → a');
    const unknown = await post(s, {
      requests: [{ id: 'a', method: 'GET', url: '/orders', dependsOn: ['ghost'] }],
    });
    expect((unknown.body as { error: { message: string } }).error.message).toContain('a → ghost');
    const tooMany = await post(s, {
      requests: Array.from({ length: 4 }, (_, i) => ({
        id: String(i),
        method: 'GET',
        url: '/orders',
      })),
    });
    expect(tooMany).toMatchObject({ status: 400, body: { error: { reason: 'invalid-batch' } } });
    const typo = await post(s, {
      requests: [{ id: 'a', method: 'GET', url: '/orders', dependson: [] }],
    });
    expect((typo.body as { error: { message: string } }).error.message).toContain('dependson');
    expect(s.upstream.received).toHaveLength(0);
  });
});

describe('access', () => {
  it('answers 403 in its own slot for a route the caller may not use', async () => {
    const s = (current = await setup(
      [
        { method: 'GET', path: '/admin', allowTenants: ['ops'], policies: [] },
        { method: 'GET', path: '/orders', policies: [] },
      ],
      (_received, response) => {
        json(response, 200, {});
      },
    ));
    const result = await post(
      s,
      {
        requests: [
          { id: 'admin', method: 'GET', url: '/admin' },
          { id: 'orders', method: 'GET', url: '/orders' },
        ],
      },
      { 'x-tenant-id': 'acme' },
    );
    const responses = (result.body as { responses: SubResponse[] }).responses;
    expect(responses.map((r) => [r.id, r.status])).toEqual([
      ['admin', 403],
      ['orders', 200],
    ]);
    expect((await call(s.base, '/admin', { headers: { 'x-tenant-id': 'ops' } })).status).toBe(200);
    expect(s.upstream.received.map((r) => r.url)).toEqual(['/orders', '/admin']);
  });
});

describe('composite routes', () => {
  it('answers GET /startup with its parts in parallel, a failed part in its own slot', async () => {
    const s = (current = await setup(
      [
        { method: 'GET', path: '/users/:id', policies: [{ coalesce: {} }] },
        { method: 'GET', path: '/orders', policies: [{ timeout: { ms: 1_000 } }] },
      ],
      (received, response) => {
        if (received.url === '/orders') return; // hangs: the part times out
        json(response, 200, { url: received.url, tenant: received.headers['x-tenant-id'] });
      },
      { composites: [{ path: '/startup', parts: { me: '/users/1', orders: '/orders' } }] },
    ));
    const answer = call(s.base, '/startup', { headers: { 'x-tenant-id': 'acme' } });
    await until(() => s.upstream.received.length === 2, 'both parts at once');
    await s.clock.advance(1_000);
    expect(await answer).toMatchObject({
      status: 200,
      body: {
        parts: {
          me: { status: 200, body: { url: '/users/1', tenant: 'acme' } },
          orders: { status: 504 },
        },
        partial: true,
      },
    });
  });
});
