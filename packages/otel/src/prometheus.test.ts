import { batch } from 'batchflight/batch';
import { circuitBreaker, consecutive } from 'batchflight/circuit-breaker';
import { afterEach, describe, expect, it } from 'vitest';
import { servePrometheus, type PrometheusEndpoint } from './prometheus.js';

const endpoints: PrometheusEndpoint[] = [];
afterEach(async () => {
  await Promise.all(endpoints.splice(0).map((e) => e.close()));
});

/**
 * The value of the sample `metric` whose labels include every one of `labels`, read from a
 * Prometheus text scrape (`name{a="x",b="y"} value`).
 */
function sample(text: string, metric: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)\{(.*)\} (\S+)$/.exec(line);
    if (match?.[1] !== metric) continue;
    const found = new Map(
      [...(match[2] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => found.get(k) === v)) return Number(match[3]);
  }
  return undefined;
}

describe('servePrometheus()', () => {
  it('serves the metrics of real primitives over HTTP in the Prometheus text format', async () => {
    const endpoint = await servePrometheus({ port: 0 });
    endpoints.push(endpoint);
    const users = batch({
      name: 'users',
      maxSize: 2,
      load: (ids: readonly number[]) => Promise.resolve(ids),
    });
    await Promise.all([1, 2, 3, 4, 5].map((id) => users.load(id)));
    await users.close();
    const breaker = circuitBreaker({ name: 'payments', policy: consecutive(1) });
    await expect(breaker.execute(() => Promise.reject(new Error('down')))).rejects.toThrow();

    const response = await fetch(endpoint.url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    expect(text).toContain('# TYPE batchflight_batch_size histogram');
    const users_ = { batchflight_capability: 'batch', batchflight_name: 'users' };
    // 5 keys in calls of at most 2: three calls, 5 keys, 2 calls saved.
    expect(sample(text, 'batchflight_batch_size_count', users_)).toBe(3);
    expect(sample(text, 'batchflight_batch_size_sum', users_)).toBe(5);
    expect(sample(text, 'batchflight_upstream_calls_saved_total', users_)).toBe(2);
    const payments = { batchflight_name: 'payments' };
    expect(
      sample(text, 'batchflight_circuit_breaker_state', { ...payments, batchflight_state: 'open' }),
    ).toBe(1);
    expect(
      sample(text, 'batchflight_circuit_breaker_state', {
        ...payments,
        batchflight_state: 'closed',
      }),
    ).toBe(0);
    expect((await fetch(new URL('/other', endpoint.url))).status).toBe(404);
  });

  it('closes idempotently and frees its port', async () => {
    const endpoint = await servePrometheus({ port: 0, instrument: false });
    expect(endpoint.instrumentation).toBeUndefined();
    await Promise.all([endpoint.close(), endpoint.close()]);
    await expect(fetch(endpoint.url)).rejects.toThrow();
    await expect(servePrometheus({ port: -1 })).rejects.toThrow(
      'servePrometheus(): option port must be an integer >= 0, got -1.',
    );
  });
});
