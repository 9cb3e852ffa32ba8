/**
 * Gateway scenarios of `npm run demo`: a real `batchflight gateway` (fastify + undici) in front
 * of a real HTTP upstream, both on loopback, each checking its claim as counts:
 *
 * 1. `gateway-stampede`: 100 concurrent identical GETs of a 50 ms endpoint, straight to the
 *    upstream vs through a route with `coalesce`: 100 upstream calls vs 1;
 * 2. `gateway-bulk`: 50 single-item `GET /users/:id` calls, straight vs through a route with
 *    `batch` into the upstream's `GET /users?ids=…`: 50 calls vs a few bulk calls;
 * 3. `gateway-startup`: a mobile app's five startup calls as five round trips vs one
 *    `POST /batch` round trip (the profile's id feeding the feed call through `dependsOn`).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGateway, type GatewayConfigInput } from '@batchflight/gateway';
import type { Scenario, ScenarioReport } from '../scenario.js';
import { count, ms } from '../table.js';

interface DemoUpstream {
  readonly url: string;
  calls: number;
  close(): Promise<void>;
}

/** A loopback upstream whose every answer takes `latencyMs`. */
async function upstream(
  latencyMs: number,
  answer: (request: IncomingMessage, url: URL) => unknown,
): Promise<DemoUpstream> {
  const state = { calls: 0 };
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    state.calls++;
    const url = new URL(request.url ?? '/', 'http://upstream');
    setTimeout(() => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(answer(request, url)));
    }, latencyMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${String(port)}`,
    get calls() {
      return state.calls;
    },
    set calls(value) {
      state.calls = value;
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

async function withGateway<T>(
  config: Omit<GatewayConfigInput, 'listen'>,
  run: (base: string) => Promise<T>,
): Promise<T> {
  const gateway = createGateway({ ...config, listen: { host: '127.0.0.1', port: 0 } });
  try {
    return await run(await gateway.listen());
  } finally {
    await gateway.close();
  }
}

async function timed<T>(run: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const value = await run();
  return [value, performance.now() - started];
}

const getJson = async (url: string, init?: RequestInit): Promise<unknown> => {
  const response = await fetch(url, init);
  return response.json();
};

const COLUMNS = ['straight to the upstream', 'through the gateway'] as const;

/** 100 concurrent identical GETs: one upstream call through a coalescing route. */
export const gatewayStampedeScenario: Scenario = {
  id: 'gateway-stampede',
  capability: 'gateway',
  title: 'gateway: 100 concurrent identical GETs of a 50 ms endpoint, coalesced',
  async run(): Promise<ScenarioReport> {
    const requests = 100;
    const api = await upstream(50, () => ({ rates: { EUR: 1.08 } }));
    try {
      const burst = (base: string) =>
        Promise.all(Array.from({ length: requests }, () => getJson(`${base}/rates/EUR`)));
      const [, directMs] = await timed(() => burst(api.url));
      const direct = api.calls;
      api.calls = 0;
      const [, gatewayMs] = await withGateway(
        {
          upstreams: { api: { url: api.url } },
          routes: [
            { method: 'GET', path: '/rates/:code', upstream: 'api', policies: [{ coalesce: {} }] },
          ],
        },
        (base) => timed(() => burst(base)),
      );
      return {
        columns: COLUMNS,
        rows: [
          ['concurrent requests', count(requests), count(requests)],
          ['upstream calls', count(direct), count(api.calls)],
          ['total time', ms(directMs), ms(gatewayMs)],
        ],
        claims: [
          {
            what: `upstream calls for ${String(requests)} identical requests through the gateway`,
            actual: api.calls,
            atMost: 1,
          },
        ],
        verdict: `${count(direct - api.calls)} upstream calls saved by coalescing in the gateway.`,
      };
    } finally {
      await api.close();
    }
  },
};

/** 50 single-item GETs gathered into the upstream's bulk endpoint. */
export const gatewayBulkScenario: Scenario = {
  id: 'gateway-bulk',
  capability: 'gateway',
  title: 'gateway: 50 single-item GET /users/:id batched into GET /users?ids=…',
  async run(): Promise<ScenarioReport> {
    const items = 50;
    const api = await upstream(20, (_request, url) => {
      if (url.pathname === '/users') {
        const ids = (url.searchParams.get('ids') ?? '').split(',');
        return { data: ids.map((id) => ({ id, name: `user ${id}` })) };
      }
      const id = url.pathname.split('/')[2] ?? '';
      return { id, name: `user ${id}` };
    });
    try {
      const page = (base: string) =>
        Promise.all(
          Array.from({ length: items }, (_, i) => getJson(`${base}/users/${String(i + 1)}`)),
        );
      const [directAnswers] = await timed(() => page(api.url));
      const direct = api.calls;
      api.calls = 0;
      const [gatewayAnswers, gatewayMs] = await withGateway(
        {
          upstreams: { api: { url: api.url } },
          routes: [
            {
              method: 'GET',
              path: '/users/:id',
              upstream: 'api',
              policies: [
                {
                  batch: {
                    param: 'id',
                    maxSize: 25,
                    maxWaitMs: 20,
                    request: { path: '/users', query: 'ids' },
                    response: { items: 'data', key: 'id' },
                  },
                },
              ],
            },
          ],
        },
        async (base) => {
          // Open the client's connections first, as a running app has them: the page then
          // measures the gateway, not 50 TCP handshakes.
          await Promise.all(Array.from({ length: items }, () => getJson(`${base}/healthz`)));
          return timed(() => page(base));
        },
      );
      const same = JSON.stringify(directAnswers) === JSON.stringify(gatewayAnswers) ? 1 : 0;
      return {
        columns: COLUMNS,
        rows: [
          ['single-item requests', count(items), count(items)],
          ['upstream calls', count(direct), count(api.calls)],
          ['time for the page', '–', ms(gatewayMs)],
        ],
        claims: [
          {
            what: `bulk calls for ${String(items)} single-item requests`,
            actual: api.calls,
            atMost: 10,
          },
          {
            what: 'answers identical to the single-item endpoint (1 = yes)',
            actual: same,
            atLeast: 1,
          },
        ],
        verdict: `${String(items)} requests became ${count(api.calls)} bulk calls; every caller got its own item.`,
      };
    } finally {
      await api.close();
    }
  },
};

/** Five startup calls in one POST /batch round trip. */
export const gatewayStartupScenario: Scenario = {
  id: 'gateway-startup',
  capability: 'gateway',
  title: 'gateway: a mobile app startup, five round trips vs one POST /batch',
  async run(): Promise<ScenarioReport> {
    const api = await upstream(30, (_request, url) => ({ part: url.pathname, id: 7 }));
    const parts = ['/profile', '/settings', '/notifications', '/recommendations'];
    const routes: GatewayConfigInput['routes'] = [...parts, '/feed'].map((path) => ({
      method: 'GET' as const,
      path,
      upstream: 'api',
    }));
    try {
      return await withGateway({ upstreams: { api: { url: api.url } }, routes }, async (base) => {
        // Five round trips, one after the other, as a client on a phone network makes them.
        const [, sequentialMs] = await timed(async () => {
          const profile = (await getJson(`${base}/profile`)) as { id: number };
          for (const part of parts.slice(1)) await getJson(`${base}${part}`);
          await getJson(`${base}/feed?user=${String(profile.id)}`);
        });
        const [answer, batchMs] = await timed(() =>
          getJson(`${base}/batch`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              requests: [
                ...parts.map((url) => ({ id: url.slice(1), method: 'GET', url })),
                {
                  id: 'feed',
                  method: 'GET',
                  url: '/feed?user={{profile.body.id}}',
                  dependsOn: ['profile'],
                },
              ],
            }),
          }),
        );
        const responses = (answer as { responses: { status: number }[] }).responses;
        const ok = responses.filter((response) => response.status === 200).length;
        return {
          columns: ['five round trips', 'one POST /batch'],
          rows: [
            ['client round trips', count(5), count(1)],
            ['parts answered', count(5), count(ok)],
            ['time', ms(sequentialMs), ms(batchMs)],
          ],
          claims: [{ what: 'parts answered by one POST /batch', actual: ok, atLeast: 5 }],
          verdict: `one round trip instead of five; the independent parts ran in parallel, the feed after the profile.`,
        };
      });
    } finally {
      await api.close();
    }
  },
};

/** The gateway scenarios, in the order they run. */
export const gatewayScenarios: readonly Scenario[] = [
  gatewayStampedeScenario,
  gatewayBulkScenario,
  gatewayStartupScenario,
];
