/**
 * Test support: a TCP proxy in front of the test Redis, to control the order
 * in which the server sees the commands of a subscriber connection (cut it,
 * hold its SUBSCRIBE back) while the other connections go straight through.
 */
import { type AddressInfo, type Socket, connect, createServer } from 'node:net';
import { Redis } from 'ioredis';
import { expect } from 'vitest';
import { until } from './scenarios.js';

/** A running proxy; see {@link startProxy}. */
export interface RedisProxy {
  /** `redis://` URL of the proxy. */
  readonly url: string;
  /**
   * Cuts every connection that has subscribed (its client reconnects) and
   * holds back the reconnected subscriber's SUBSCRIBE, and everything after
   * it on that connection, until {@link release}. Resolves once it is held
   * (the client has sent it, the server has not seen it) and `roundTrip`
   * (a command of another connection) has answered, so anything the client
   * did on its `ready` has had its turn.
   */
  cutSubscriberAndHold(roundTrip: () => Promise<unknown>): Promise<void>;
  /** Lets the held bytes through, and the connection run freely again. */
  release(): void;
  /** Closes the proxy and every connection through it. */
  close(): Promise<void>;
}

interface Pair {
  readonly client: Socket;
  readonly server: Socket;
  subscriber: boolean;
  held: Buffer[] | undefined;
}

/**
 * Starts a proxy forwarding to `target` (a `redis://host:port` URL), on
 * `port` (default: a free one; a given port brings a "down" Redis back).
 */
export async function startProxy(target: string, port = 0): Promise<RedisProxy> {
  const { hostname, port: targetPort } = new URL(target);
  const pairs = new Set<Pair>();
  let onHeld: (() => void) | undefined;
  const proxy = createServer((client) => {
    const pair: Pair = {
      client,
      server: connect(Number(targetPort || 6379), hostname),
      subscriber: false,
      held: undefined,
    };
    pairs.add(pair);
    client.on('data', (chunk: Buffer) => {
      if (/subscribe/i.test(chunk.toString('latin1'))) {
        pair.subscriber = true;
        if (onHeld !== undefined && pair.held === undefined) {
          pair.held = [];
          onHeld();
          onHeld = undefined;
        }
      }
      if (pair.held === undefined) pair.server.write(chunk);
      else pair.held.push(chunk);
    });
    pair.server.on('data', (chunk: Buffer) => {
      client.write(chunk);
    });
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      pair.server.destroy();
    };
    for (const socket of [client, pair.server]) socket.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => proxy.listen(port, '127.0.0.1', resolve));
  const { port: own } = proxy.address() as AddressInfo;
  return {
    url: `redis://127.0.0.1:${String(own)}`,
    cutSubscriberAndHold: async (roundTrip) => {
      const held = new Promise<void>((resolve) => {
        onHeld = resolve;
      });
      for (const pair of pairs) if (pair.subscriber) pair.client.destroy();
      await held;
      await roundTrip();
    },
    release: () => {
      for (const pair of pairs) {
        const chunks = pair.held;
        pair.held = undefined;
        for (const chunk of chunks ?? []) pair.server.write(chunk);
      }
    },
    close: async () => {
      for (const pair of pairs) pair.client.destroy();
      await new Promise<void>((resolve) =>
        proxy.close(() => {
          resolve();
        }),
      );
    },
  };
}

/** A store under test, as {@link resyncOnlyOnceSubscribed} drives it. */
export interface ListeningStore<E> {
  /** Registers `push` for the store's events; resolves once subscribed. */
  listen(push: (event: E) => void): Promise<unknown>;
  close(): void;
}

/**
 * The subscriber of a store (opened by `open` on a client through a proxy) is
 * cut and reconnects; while its SUBSCRIBE is held back, the store must not
 * announce `{ kind: 'resync' }`; once it is let through, the resync comes, and
 * a message `publish`ed after it (by another connection) reaches the store as
 * `expected`.
 */
export async function resyncOnlyOnceSubscribed<E>(
  target: string,
  open: (client: Redis) => ListeningStore<E>,
  publish: () => Promise<unknown>,
  expected: E,
): Promise<void> {
  const proxy = await startProxy(target);
  const via = new Redis(proxy.url, { maxRetriesPerRequest: 3 });
  const store = open(via);
  try {
    const events: E[] = [];
    await store.listen((event) => events.push(event));
    await proxy.cutSubscriberAndHold(() => via.ping());
    expect(events).toEqual([]); // not subscribed again yet: no resync
    proxy.release();
    await until(() => events.length > 0);
    expect(events).toEqual([{ kind: 'resync' }]);
    await publish();
    await until(() => events.length > 1);
    expect(events[1]).toEqual(expected);
  } finally {
    store.close();
    via.disconnect();
    await proxy.close();
  }
}
