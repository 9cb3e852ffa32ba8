/**
 * A store that accepts connections and never answers (a network that swallows packets):
 * every call of the follower has a deadline on its injected clock, so the follower turns
 * unreachable after `timeoutMs` instead of waiting for ever, keeps the revision it runs,
 * says so once, and `ready` does not hang. The server is a real TCP listener that reads and
 * never replies; no store is mocked.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { createServer, type Server, type Socket } from 'node:net';
import { TestClock } from '@batchflight/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigRegistry } from './index.js';
import { configChannels, type ConfigRevisionEvent } from './follower.js';
import { PostgresConfigChannel } from './postgres.js';
import { RedisConfigChannel } from './redis.js';
import type { ConfigChannel } from './revisions.js';

let server: Server;
let port = 0;
const sockets = new Set<Socket>();
beforeAll(async () => {
  server = createServer((socket) => {
    sockets.add(socket);
    socket.on('data', () => undefined); // read, never answer
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});

const stores: {
  name: string;
  open: (clock: TestClock) => { channel: ConfigChannel; close(): Promise<void> };
}[] = [
  {
    name: 'Redis',
    open: (clock) => {
      const redis = new Redis({
        port,
        host: '127.0.0.1',
        connectTimeout: 60_000,
        maxRetriesPerRequest: 1,
      });
      redis.on('error', () => undefined);
      return {
        channel: new RedisConfigChannel({ redis, prefix: 'silent', clock }),
        close: () => {
          redis.disconnect();
          return Promise.resolve();
        },
      };
    },
  },
  {
    name: 'PostgreSQL',
    open: (clock) => {
      const channel = new PostgresConfigChannel({
        connectionString: `postgres://postgres@127.0.0.1:${String(port)}/test`,
        schema: 'silent',
        clock,
      });
      return { channel, close: () => channel.close().catch(() => undefined) };
    },
  },
];

describe.each(stores)('a follower of a $name that never answers', (store) => {
  it('is unreachable after timeoutMs on its clock, once, and ready does not hang', async () => {
    const clock = new TestClock();
    const opened = store.open(clock);
    const channel = opened.channel;
    const events: ConfigRevisionEvent[] = [];
    const listener = (event: unknown) => events.push(event as ConfigRevisionEvent);
    diagnosticsChannel.subscribe(configChannels.revision.name, listener);
    const follower = channel.follow(new ConfigRegistry(), {
      processId: `silent-${store.name}`,
      timeoutMs: 2_000,
      pollMs: 60_000,
      heartbeatMs: 60_000,
    });
    const state = { ready: false };
    void follower.ready.then(() => (state.ready = true));
    // Nothing answers: time alone moves the follower on (the listen wait, then the read).
    for (let i = 0; i < 10 && !state.ready; i++) await clock.advance(2_000);
    expect(state.ready).toBe(true);
    expect(follower.health()).toMatchObject({ revision: 0, reachable: false });
    expect(follower.health().error).toContain('did not answer within 2000 ms');
    // Another poll that times out is the same outage: no second event.
    await clock.advance(60_000);
    await clock.advance(2_000);
    diagnosticsChannel.unsubscribe(configChannels.revision.name, listener);
    const mine = events.filter((e) => e.processId === `silent-${store.name}`);
    expect(mine.map((e) => e.outcome)).toEqual(['unreachable']);
    const closing = follower.close();
    for (let i = 0; i < 5; i++) await clock.advance(2_000);
    await closing;
    await opened.close();
  });
});
