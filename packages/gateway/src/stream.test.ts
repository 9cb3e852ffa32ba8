import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { deferred } from '@batchflight/testing';
import { call, until } from './__fixtures__/upstream.js';
import { setup, type Setup } from './__fixtures__/setup.js';

let current: Setup | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

describe('streaming bodies', () => {
  it('pipes a body through as it arrives when no policy shares or keeps it', async () => {
    const rest = deferred<undefined>();
    const s = (current = await setup(
      [{ method: 'GET', path: '/export', policies: [{ breaker: {} }] }],
      async (_received, response) => {
        response.writeHead(200, { 'content-type': 'text/plain' });
        response.write('first part;');
        await rest.promise;
        response.end('second part');
      },
    ));
    const answer = await request(`${s.base}/export`);
    expect(answer.statusCode).toBe(200);
    const chunks = answer.body[Symbol.asyncIterator]();
    // The first part reaches the client while the upstream still holds the rest back.
    const first = await chunks.next();
    expect(Buffer.from(first.value as Uint8Array).toString()).toBe('first part;');
    rest.resolve(undefined);
    let tail = '';
    for (let chunk = await chunks.next(); chunk.done !== true; chunk = await chunks.next()) {
      tail += Buffer.from(chunk.value as Uint8Array).toString();
    }
    expect(tail).toBe('second part');
  });

  it("keeps the upstream's content-length and answers HEAD without a body", async () => {
    const payload = 'x'.repeat(300_000);
    const s = (current = await setup(
      [
        { method: 'GET', path: '/blob', policies: [] },
        { method: 'HEAD', path: '/blob', policies: [] },
      ],
      (received, response) => {
        response.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': String(payload.length),
        });
        response.end(received.method === 'HEAD' ? undefined : payload);
      },
    ));
    const got = await call(s.base, '/blob');
    expect(got.status).toBe(200);
    expect(got.headers['content-length']).toBe(String(payload.length));
    expect(got.headers['transfer-encoding']).toBeUndefined();
    expect(got.body).toBe(payload);
    const head = await call(s.base, '/blob', { method: 'HEAD' });
    expect(head).toMatchObject({ status: 200, body: '' });
    expect(head.headers['content-length']).toBe(String(payload.length));
  });

  it('bounds the wait for the headers with the timeout, not the body that follows them', async () => {
    const rest = deferred<undefined>();
    const s = (current = await setup(
      [{ method: 'GET', path: '/report', policies: [{ timeout: { ms: 1_000 } }] }],
      async (_received, response) => {
        response.writeHead(200, { 'content-type': 'text/plain' });
        response.write('header row\n');
        await rest.promise;
        response.end('last row\n');
      },
    ));
    const answer = await request(`${s.base}/report`);
    expect(answer.statusCode).toBe(200);
    // Far past the route's timeout while the body is still arriving.
    await s.clock.advance(60_000);
    rest.resolve(undefined);
    expect(await answer.body.text()).toBe('header row\nlast row\n');
  });

  it('reads a failure status in full so that the breaker sees it and the caller gets it', async () => {
    const s = (current = await setup(
      [{ method: 'GET', path: '/flaky', policies: [{ breaker: { failures: 2 } }] }],
      (_received, response) => {
        response.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '7' });
        response.end('down for maintenance');
      },
    ));
    for (let i = 0; i < 2; i++) {
      const failed = await call(s.base, '/flaky');
      expect(failed).toMatchObject({ status: 503, body: 'down for maintenance' });
      expect(failed.headers['retry-after']).toBe('7');
    }
    // Two failures opened the circuit: the gateway answers without calling the upstream.
    const open = await call(s.base, '/flaky');
    expect(open.status).toBe(503);
    expect(open.body).toMatchObject({ error: { reason: 'circuit-open' } });
    expect(s.upstream.received).toHaveLength(2);
  });

  it('cancels the upstream answer when the client leaves in the middle of the body', async () => {
    const s = (current = await setup(
      [{ method: 'GET', path: '/feed', policies: [] }],
      (_received, response) => {
        response.writeHead(200, { 'content-type': 'text/plain' });
        response.write('event 1\n');
        // never ends: only the gateway giving up closes it
      },
    ));
    const client = new AbortController();
    const answer = await request(`${s.base}/feed`, { signal: client.signal });
    const chunks = answer.body[Symbol.asyncIterator]();
    await chunks.next();
    client.abort();
    await until(() => s.upstream.received[0]?.aborted === true, 'the upstream answer cancelled');
    expect(s.upstream.received).toHaveLength(1);
  });

  it('cuts the client off when the upstream dies mid-body, and keeps serving', async () => {
    let die = true;
    const s = (current = await setup(
      [{ method: 'GET', path: '/big', policies: [] }],
      (_received, response) => {
        response.writeHead(200, { 'content-type': 'text/plain' });
        if (!die) {
          response.end('whole');
          return;
        }
        response.write('x'.repeat(100_000));
        setImmediate(() => response.destroy());
      },
    ));
    const broken = await request(`${s.base}/big`);
    expect(broken.statusCode).toBe(200);
    // A truncated body must not pass for a complete one.
    await expect(broken.body.text()).rejects.toThrow();
    die = false;
    expect(await call(s.base, '/big')).toMatchObject({ status: 200, body: 'whole' });
  });

  it('still gives composite parts and /batch sub-requests complete bodies', async () => {
    const s = (current = await setup(
      [{ method: 'GET', path: '/users/:id', policies: [] }],
      (received, response) => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.write('{"url":');
        response.end(JSON.stringify(received.url) + '}');
      },
    ));
    const answer = await call(s.base, '/batch', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ requests: [{ id: 'a', method: 'GET', url: '/users/1' }] }),
    });
    expect(answer.body).toMatchObject({
      responses: [{ id: 'a', status: 200, body: { url: '/users/1' } }],
    });
  });
});
