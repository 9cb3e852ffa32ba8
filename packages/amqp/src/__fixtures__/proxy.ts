/**
 * Test support: a TCP proxy in front of the test broker, so a test can cut
 * every connection through it (a lost network, as the client sees it) and
 * refuse new ones while the broker stays up for everyone else.
 */
import { type AddressInfo, type Socket, connect, createServer } from 'node:net';

/** A running proxy; see {@link startProxy}. */
export interface TcpProxy {
  /** The target URL with the proxy's host and port. */
  readonly url: string;
  /** Connections through it now. */
  readonly open: number;
  /** Destroys every connection through it; `refuse` also drops new ones until {@link accept}. */
  cut(options?: { refuse?: boolean }): void;
  /** Lets new connections through again. */
  accept(): void;
  close(): Promise<void>;
}

/** Starts a proxy forwarding to the host and port of `target` (an amqp:// URL). */
export async function startProxy(target: string): Promise<TcpProxy> {
  const url = new URL(target);
  const sockets = new Set<Socket>();
  let refusing = false;
  const server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(url.port || 5672), url.hostname);
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const end = (): void => {
      sockets.delete(client);
      sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) socket.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const proxied = new URL(target);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(port);
  return {
    url: proxied.toString(),
    get open() {
      return sockets.size / 2;
    },
    cut: (options) => {
      refusing = options?.refuse === true;
      for (const socket of sockets) socket.destroy();
    },
    accept: () => {
      refusing = false;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
