import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '@batchflight/config';
import { loadGatewayConfig, parseGatewayConfig } from './config.js';

const valid = `
upstreams:
  users: { url: "http://127.0.0.1:9001" }
routes:
  - method: GET
    path: /users/:id
    upstream: users
    policies:
      - coalesce: {}
      - cache: { ttlMs: 30000 }
      - batch:
          param: id
          request: { path: /users, query: ids }
          response: { items: data, key: id }
`;

function messageOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (ConfigError.is(error)) return error.message;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('gateway config', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gateway-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('fills the defaults of a valid file', async () => {
    const file = join(dir, 'gateway.yaml');
    await writeFile(file, valid);
    const config = await loadGatewayConfig(file);
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(config.tenant.header).toBe('x-tenant-id');
    expect(config.upstreams.users?.connections).toBe(64);
    expect(config.routes[0]?.policies[2]?.batch).toMatchObject({ maxSize: 100, maxWaitMs: 2 });
  });

  it('names the file, line, path, value and contract of a wrong value', () => {
    const message = messageOf(() =>
      parseGatewayConfig(valid.replace('ttlMs: 30000', 'ttlMs: "30s"'), 'gateway.yaml'),
    );
    expect(message).toBe(
      'gateway.yaml:10:25 routes[0].policies[1].cache.ttlMs: got "30s"; expected number',
    );
  });

  it('makes an unknown key an error listing the known ones', () => {
    const message = messageOf(() =>
      parseGatewayConfig(valid.replace('- coalesce: {}', '- coalesec: {}'), 'gateway.yaml'),
    );
    expect(message).toContain('routes[0].policies[0]: expected no unknown key (found "coalesec")');
    expect(message).toContain('the keys are coalesce, cache, rateLimit');
  });

  it('refuses a route to an unknown upstream and a batch param the path does not have', () => {
    const message = messageOf(() =>
      parseGatewayConfig(
        valid.replace('upstream: users', 'upstream: people').replace('param: id', 'param: uid'),
        'gateway.yaml',
      ),
    );
    expect(message).toContain(
      'routes[0].upstream: got "people"; expected one of the upstreams (users)',
    );
    expect(message).toContain('a batch param that is a parameter of the path /users/:id');
  });

  it('refuses a fleet-wide limit without a redis section', () => {
    const message = messageOf(() =>
      parseGatewayConfig(
        valid.replace('- coalesce: {}', '- rateLimit: { rate: 5, fleet: true }'),
        'gateway.yaml',
      ),
    );
    expect(message).toContain(
      'routes[0].policies[0].rateLimit.fleet: got true; expected a redis section at the top level',
    );
  });
});
