/**
 * docs/gateway.md and packages/gateway/README.md: the gateway of examples/gateway.yaml in front
 * of a stand-in users API (node:http on loopback), called over HTTP.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Stand-in users API: `GET /users?ids=1,2` answers `{ data: [...] }`; counts its calls. */
export const api = { calls: [] as string[] };
const server = createServer((request, response) => {
  api.calls.push(request.url ?? '');
  const ids = new URL(request.url ?? '/', 'http://api').searchParams.get('ids') ?? '';
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end(JSON.stringify({ data: ids.split(',').map((id) => ({ id, name: `user ${id}` })) }));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const apiUrl = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
// The example file, pointed at the stand-in.
const dir = mkdtempSync(join(tmpdir(), 'bf-example-gateway-'));
const file = join(dir, 'gateway.yaml');
writeFileSync(
  file,
  readFileSync(new URL('gateway.yaml', import.meta.url), 'utf8').replace(
    'http://127.0.0.1:9001',
    apiUrl,
  ),
);

// #region start
import { createGateway, loadGatewayConfig } from '@batchflight/gateway';

const gateway = createGateway(await loadGatewayConfig(file));
const url = await gateway.listen(0); // 0: any free port; default: the file's listen.port
// #endregion

// #region calls
const headers = { 'x-tenant-id': 'acme' };
// Three single-item reads at once: one bulk call GET /users?ids=1,2 upstream.
const users = await Promise.all(
  ['1', '2', '1'].map(async (id) => (await fetch(`${url}/users/${id}`, { headers })).json()),
);
// users: [{ id: '1', name: 'user 1' }, { id: '2', ... }, { id: '1', ... }]
// #endregion

// #region consolidated
const consolidated = await fetch(`${url}/batch`, {
  method: 'POST',
  headers: { ...headers, 'content-type': 'application/json' },
  body: JSON.stringify({
    requests: [
      { id: 'me', method: 'GET', url: '/users/1' }, // a cache hit by now
      { id: 'friend', method: 'GET', url: '/users/{{me.body.id}}0', dependsOn: ['me'] },
    ],
  }),
});
const { responses } = (await consolidated.json()) as {
  responses: { id: string; status: number }[];
};
// responses: [{ id: 'me', status: 200, ... }, { id: 'friend', status: 200, body: { id: '10', ... } }]
// #endregion

export const results = { users, statuses: responses.map((r) => [r.id, r.status]) };
await gateway.close();
await new Promise((resolve) => server.close(resolve));
