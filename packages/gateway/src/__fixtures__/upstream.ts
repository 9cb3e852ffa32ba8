/**
 * A real HTTP upstream on loopback (node:http, port 0) for the gateway's tests: each request is
 * recorded, then answered by the test's handler, which may hold it as long as it likes.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';

/** One request that reached the upstream. */
export interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  /** True once the gateway gave up on it (its connection closed before the answer). */
  aborted: boolean;
}

export type UpstreamHandler = (
  received: Received,
  response: ServerResponse,
) => void | Promise<void>;

/** A running test upstream. */
export interface TestUpstream {
  readonly url: string;
  readonly received: Received[];
  /** Replaces the handler of the next requests. */
  handle(handler: UpstreamHandler): void;
  close(): Promise<void>;
}

/** Answers JSON. */
export function json(response: ServerResponse, status: number, value: unknown, headers = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(value));
}

/** Starts an upstream on 127.0.0.1, port 0. */
export async function startUpstream(handler: UpstreamHandler): Promise<TestUpstream> {
  let current = handler;
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const entry: Received = {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        aborted: false,
      };
      received.push(entry);
      res.on('close', () => {
        if (!res.writableFinished) entry.aborted = true;
      });
      void current(entry, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${String(port)}`,
    received,
    handle(next) {
      current = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

/** Waits (on the event loop, not on a clock) until `condition` holds. */
export async function until(condition: () => boolean, what = 'the condition'): Promise<void> {
  for (let turn = 0; turn < 20_000; turn++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** One client request to the gateway over real HTTP; the body parsed when it is JSON. */
export async function call(
  base: string,
  path: string,
  options: {
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    signal?: AbortSignal;
  } = {},
): Promise<{
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}> {
  const answer = await request(`${base}${path}`, {
    method: (options.method ?? 'GET') as 'GET',
    headers: options.headers ?? {},
    body: options.body ?? null,
    signal: options.signal ?? null,
  });
  const text = await answer.body.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: answer.statusCode, headers: answer.headers, body };
}
