/**
 * Test support: a TCP proxy in front of the test Redis, to control the order
 * in which the server sees the commands of a subscriber connection (cut it,
 * hold its SUBSCRIBE back) while the other connections go straight through.
 */
import { type AddressInfo, type Socket, connect, createServer } from 'node:net';

/** A running proxy; see {@link startProxy}. */
export interface RedisProxy {
  /** `redis://` URL of the proxy. */
  readonly url: string;
  /**
   * From now on, holds back the next chunk that carries a SUBSCRIBE, and
   * everything after it on that connection, until {@link release}. Resolves
   * once such a chunk is held: the client has sent it, the server has not seen it.
   */
  holdNextSubscribe(): Promise<void>;
  /** Lets the held bytes through, and the connection run freely again. */
  release(): void;
  /** Closes every connection that has sent a SUBSCRIBE (its client reconnects). */
  cutSubscribers(): void;
  /** Closes the proxy and every connection through it. */
  close(): Promise<void>;
}

interface Pair {
  readonly client: Socket;
  readonly server: Socket;
  subscriber: boolean;
  held: Buffer[] | undefined;
}

/** Starts a proxy on a free local port, forwarding to `target` (a `redis://host:port` URL). */
export async function startProxy(target: string): Promise<RedisProxy> {
  const { hostname, port } = new URL(target);
  const pairs = new Set<Pair>();
  let onHeld: (() => void) | undefined;
  const proxy = createServer((client) => {
    const pair: Pair = {
      client,
      server: connect(Number(port || 6379), hostname),
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
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const { port: own } = proxy.address() as AddressInfo;
  return {
    url: `redis://127.0.0.1:${String(own)}`,
    holdNextSubscribe: () =>
      new Promise<void>((resolve) => {
        onHeld = resolve;
      }),
    release: () => {
      for (const pair of pairs) {
        const held = pair.held;
        pair.held = undefined;
        for (const chunk of held ?? []) pair.server.write(chunk);
      }
    },
    cutSubscribers: () => {
      for (const pair of pairs) if (pair.subscriber) pair.client.destroy();
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
