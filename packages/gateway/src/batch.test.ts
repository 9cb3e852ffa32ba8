import { afterEach, describe, expect, it } from 'vitest';
import { call, json, until } from './__fixtures__/upstream.js';
import { setup, type Setup } from './__fixtures__/setup.js';
import type { GatewayConfigInput } from './config.js';

let current: Setup | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

type Policies = GatewayConfigInput['routes'][number]['policies'];

const usersRoute = (batchPolicy: Record<string, unknown> = {}, after: Policies = []) => ({
  method: 'GET' as const,
  path: '/users/:id',
  policies: [
    {
      batch: {
        param: 'id',
        maxSize: 20,
        maxWaitMs: 5,
        request: { path: '/users', query: 'ids' },
        response: { items: 'data', key: 'id', error: 'error' },
        ...batchPolicy,
      },
    },
    ...after,
  ],
});

const idsOf = (url: string): string[] =>
  decodeURIComponent(new URL(url, 'http://x').searchParams.get('ids') ?? '').split(',');

/** Fires `paths` at once and opens the batch window when every one has reached the batcher. */
async function burst(s: Setup, paths: readonly string[], headers?: Record<string, string>) {
  const answers = Promise.all(paths.map((path) => call(s.base, path, headers ? { headers } : {})));
  await until(
    () => (s.gateway.stats()[0]?.batch?.loads ?? 0) >= paths.length,
    'every item in a window',
  );
  await s.clock.advance(5);
  return answers;
}

describe('batch', () => {
  it('gathers 50 single-item GETs into ceil(50 / maxSize) bulk calls and maps each item back', async () => {
    const s = (current = await setup([usersRoute()], (received, response) => {
      const ids = idsOf(received.url).filter((id) => id !== '13'); // 13 does not exist
      json(response, 200, { data: ids.map((id) => ({ id: Number(id), name: `user ${id}` })) });
    }));
    const paths = Array.from({ length: 50 }, (_, i) => `/users/${String(i + 1)}`);
    const results = await burst(s, paths);
    expect(s.upstream.received).toHaveLength(3);
    expect(s.upstream.received.every((r) => r.url.startsWith('/users?ids='))).toBe(true);
    for (const [index, result] of results.entries()) {
      const id = index + 1;
      if (id === 13) {
        expect(result).toMatchObject({ status: 404, body: { error: { reason: 'not-found' } } });
      } else {
        expect(result).toMatchObject({ status: 200, body: { id, name: `user ${String(id)}` } });
      }
    }
    expect(s.gateway.stats()[0]).toMatchObject({ requests: 50, upstreamCalls: 3, saved: 47 });
  });

  it('gives a failed item its own 502 and dedupes one id asked twice', async () => {
    const s = (current = await setup([usersRoute()], (received, response) => {
      json(response, 200, {
        data: idsOf(received.url).map((id) =>
          id === '2' ? { id: 2, error: 'shard offline' } : { id: Number(id) },
        ),
      });
    }));
    const [one, two, again] = await burst(s, ['/users/1', '/users/2', '/users/1']);
    expect(one?.status).toBe(200);
    expect(again?.body).toEqual(one?.body);
    expect(two).toMatchObject({ status: 502, body: { error: { reason: 'item-error' } } });
    expect((two?.body as { error: { message: string } }).error.message).toContain('shard offline');
    expect(idsOf(s.upstream.received[0]?.url ?? '')).toEqual(['1', '2']);
  });

  it.each([
    ['not JSON', 'bulk-not-json', (r: import('node:http').ServerResponse) => r.end('<html>oops')],
    [
      'no array',
      'bulk-shape',
      (r: import('node:http').ServerResponse) => {
        json(r, 200, { data: 3 });
      },
    ],
    [
      'a 500',
      'bulk-status',
      (r: import('node:http').ServerResponse) => {
        json(r, 500, {});
      },
    ],
  ])(
    'answers every caller a 502 with a reason when the bulk answer is %s',
    async (_, reason, answer) => {
      const s = (current = await setup([usersRoute()], (_received, response) => {
        answer(response);
      }));
      const results = await burst(s, ['/users/1', '/users/2', '/users/3']);
      for (const result of results) {
        expect(result).toMatchObject({ status: 502, body: { error: { reason } } });
      }
    },
  );

  it('keeps the batches of two tenants apart, each with its own credentials', async () => {
    const s = (current = await setup([usersRoute()], (received, response) => {
      json(response, 200, {
        data: idsOf(received.url).map((id) => ({
          id: Number(id),
          tenant: received.headers['x-tenant-id'],
        })),
      });
    }));
    const a = burst(s, ['/users/1', '/users/2'], { 'x-tenant-id': 'a', authorization: 'A' });
    const b = call(s.base, '/users/1', { headers: { 'x-tenant-id': 'b', authorization: 'B' } });
    const [resultsA, resultB] = await Promise.all([a, b]);
    expect(resultsA.map((r) => (r.body as { tenant: string }).tenant)).toEqual(['a', 'a']);
    expect(resultB.body).toMatchObject({ tenant: 'b' });
    expect(s.upstream.received).toHaveLength(2);
    const auth = s.upstream.received.map((r) => r.headers.authorization).sort();
    expect(auth).toEqual(['A', 'B']);
  });

  it('posts the ids to a POST bulk endpoint, and an urgent item skips the window', async () => {
    const s = (current = await setup(
      [usersRoute({ request: { method: 'POST', path: '/users/bulk', bodyField: 'ids' } })],
      (received, response) => {
        const { ids } = JSON.parse(received.body) as { ids: string[] };
        json(response, 200, { data: ids.map((id) => ({ id })) });
      },
    ));
    // No clock advance: the urgent header sends the batch at once.
    const urgent = await call(s.base, '/users/9', { headers: { 'x-urgent': '1' } });
    expect(urgent).toMatchObject({ status: 200, body: { id: '9' } });
    expect(s.upstream.received[0]).toMatchObject({ method: 'POST', url: '/users/bulk' });
  });

  it('applies the policies after batch to the bulk call: a hung bulk call is every caller’s 504', async () => {
    const s = (current = await setup(
      [
        usersRoute({}, [
          { rateLimit: { rate: 100, perTenant: false } },
          { timeout: { ms: 1_000 } },
        ]),
      ],
      () => undefined,
    ));
    const answers = burst(s, ['/users/1', '/users/2']);
    await until(() => s.upstream.received.length === 1);
    await s.clock.advance(1_000);
    for (const result of await answers) expect(result.status).toBe(504);
  });
});
