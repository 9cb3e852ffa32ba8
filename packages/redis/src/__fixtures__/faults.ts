/**
 * Test support: the two ways Redis is "down" that a client sees.
 *
 * - A silent server: a TCP server that accepts connections and never
 *   answers (a hung Redis, a black-holed proxy). ioredis waits forever.
 * - A closed port: nothing listens, so connecting fails (ECONNREFUSED) and
 *   ioredis keeps reconnecting, holding commands in its offline queue.
 *
 * The clients are built as the README shows them, `new Redis(url)` with
 * ioredis defaults (no `commandTimeout`, `maxRetriesPerRequest` 20), plus an
 * `error` listener as every application has.
 */
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import { Redis } from 'ioredis';

/** A server that accepts and never answers; see the module comment. */
export interface SilentServer {
  readonly url: string;
  /** Connections accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

/** Starts a {@link SilentServer} on a free local port. */
export async function startSilentServer(): Promise<SilentServer> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    // Reads everything, answers nothing.
    socket.resume();
  });
  const port = await listen(server);
  return {
    url: `redis://127.0.0.1:${String(port)}`,
    get accepted() {
      return accepted;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
    },
  };
}

/** A local port nothing listens on (it was free a moment ago: bound, then closed). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  return port;
}

/** A client built as the README shows it (`new Redis(url)`, ioredis defaults), errors listened to. */
export function readmeClient(url: string): Redis {
  const client = new Redis(url);
  client.on('error', () => undefined);
  return client;
}

function listen(server: Server): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve((server.address() as AddressInfo).port);
    });
  });
}
