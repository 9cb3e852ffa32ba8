import { afterEach, describe, expect, it } from 'vitest';
import type { ServerResponse } from 'node:http';
import { call, json, until, type Received } from './__fixtures__/upstream.js';
import { setup, type Setup } from './__fixtures__/setup.js';

let current: Setup | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

const statsOf = (s: Setup) => {
  const stats = s.gateway.stats()[0];
  if (stats === undefined) throw new Error('no route');
  return stats;
};

/** An upstream document with an ETag: 304 to a matching If-None-Match, else the body. */
function versioned(state: { version: number; control: string }) {
  return (received: Received, response: ServerResponse): void => {
    const etag = `"v${String(state.version)}"`;
    const headers = { etag, 'cache-control': state.control };
    if (received.headers['if-none-match'] === etag) {
      response.writeHead(304, headers);
      response.end();
      return;
    }
    json(response, 200, { version: state.version }, headers);
  };
}

describe('cache revalidation', () => {
  it('revalidates a stale answer with If-None-Match; a 304 serves the stored body again', async () => {
    const state = { version: 1, control: 'max-age=1' };
    const s = (current = await setup(
      [{ method: 'GET', path: '/doc', policies: [{ cache: { ttlMs: 60_000 } }] }],
      versioned(state),
    ));
    expect(await call(s.base, '/doc')).toMatchObject({ status: 200, body: { version: 1 } });
    // The upstream's max-age (1 s) is over; the route's TTL (60 s) is not.
    await s.clock.advance(1_500);
    const again = await call(s.base, '/doc');
    expect(again).toMatchObject({ status: 200, body: { version: 1 } });
    expect(again.headers.etag).toBe('"v1"');
    expect(s.upstream.received.map((r) => r.headers['if-none-match'])).toEqual([undefined, '"v1"']);
    expect(statsOf(s).revalidated).toBe(1);
    // The 304 made the entry fresh for another max-age: the next read stays in the gateway.
    await call(s.base, '/doc');
    expect(s.upstream.received).toHaveLength(2);
    // A new version upstream: the next revalidation gets the new body, not a 304.
    state.version = 2;
    await s.clock.advance(1_500);
    expect(await call(s.base, '/doc')).toMatchObject({ status: 200, body: { version: 2 } });
    expect(statsOf(s).revalidated).toBe(1);
  });

  it('revalidates with If-Modified-Since while serving stale within staleWhileRevalidateMs', async () => {
    const modified = 'Tue, 01 Dec 2026 10:00:00 GMT';
    const s = (current = await setup(
      [
        {
          method: 'GET',
          path: '/feed',
          policies: [{ cache: { ttlMs: 1_000, staleWhileRevalidateMs: 60_000 } }],
        },
      ],
      (received, response) => {
        if (received.headers['if-modified-since'] === modified) {
          response.writeHead(304, { 'last-modified': modified, 'x-checked': 'yes' });
          response.end();
          return;
        }
        json(response, 200, { items: 1 }, { 'last-modified': modified });
      },
    ));
    expect((await call(s.base, '/feed')).body).toEqual({ items: 1 });
    await s.clock.advance(1_500);
    // Stale: answered at once from the cache, one conditional refresh behind it.
    expect((await call(s.base, '/feed')).body).toEqual({ items: 1 });
    await until(() => statsOf(s).revalidated === 1, 'the background revalidation');
    expect(s.upstream.received[1]?.headers['if-modified-since']).toBe(modified);
    // The refreshed entry carries what the 304 said, and is fresh: no upstream call.
    const fresh = await call(s.base, '/feed');
    expect(fresh.headers['x-checked']).toBe('yes');
    expect(fresh.body).toEqual({ items: 1 });
    expect(s.upstream.received).toHaveLength(2);
  });

  it("never sends one tenant's validator for another tenant", async () => {
    const state = { version: 1, control: 'max-age=1' };
    const s = (current = await setup(
      [{ method: 'GET', path: '/doc', policies: [{ cache: { ttlMs: 60_000 } }] }],
      versioned(state),
    ));
    await call(s.base, '/doc', { headers: { 'x-tenant-id': 'a' } });
    // Tenant b has no entry of its own: its first read is unconditional.
    await call(s.base, '/doc', { headers: { 'x-tenant-id': 'b' } });
    expect(s.upstream.received.map((r) => r.headers['if-none-match'])).toEqual([
      undefined,
      undefined,
    ]);
  });
});
