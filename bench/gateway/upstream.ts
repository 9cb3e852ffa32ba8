/**
 * The bench's upstream, in a process of its own: every answer takes `latencyMs`; `GET /__calls`
 * returns and resets the number of calls since the last read. `/users?ids=` is a bulk endpoint.
 * Prints its port on standard output. Loopback only.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const latencyMs = Number(process.argv[2] ?? '0');
let calls = 0;
const server = createServer((request, response) => {
  if (request.url === '/__calls') {
    response.end(String(calls));
    calls = 0;
    return;
  }
  calls++;
  const answer = (): void => {
    const url = new URL(request.url ?? '/', 'http://upstream');
    const body =
      url.pathname === '/users'
        ? { data: (url.searchParams.get('ids') ?? '').split(',').map((id) => ({ id })) }
        : { path: url.pathname, at: calls };
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  };
  if (latencyMs > 0) setTimeout(answer, latencyMs);
  else answer();
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${String((server.address() as AddressInfo).port)}\n`);
});
