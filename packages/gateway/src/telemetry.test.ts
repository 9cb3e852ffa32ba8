import diagnosticsChannel from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { TestClock } from '@batchflight/testing';
import { createGateway, type Gateway } from './gateway.js';
import { call, json, startUpstream, type TestUpstream } from './__fixtures__/upstream.js';
import type { GatewayRequestEvent, GatewayUpstreamEvent } from './channels.js';

/** A reader that collects on demand: the SDK's own aggregation, no exporter. */
class CollectingReader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  /** name -> route -> value of every point of the gateway's meter. */
  async points(): Promise<Map<string, Map<string, number>>> {
    const { resourceMetrics } = await this.collect();
    const out = new Map<string, Map<string, number>>();
    for (const scope of resourceMetrics.scopeMetrics) {
      if (scope.scope.name !== '@batchflight/gateway') continue;
      for (const metric of scope.metrics) {
        const byRoute = new Map<string, number>();
        for (const point of metric.dataPoints) {
          byRoute.set(String(point.attributes['batchflight.name']), point.value as number);
        }
        out.set(metric.descriptor.name, byRoute);
      }
    }
    return out;
  }
}

let gateway: Gateway | undefined;
let upstream: TestUpstream | undefined;
afterEach(async () => {
  await gateway?.close();
  await upstream?.close();
  gateway = undefined;
  upstream = undefined;
});

async function start(options: { meterProvider?: MeterProvider } = {}): Promise<string> {
  upstream = await startUpstream((received, response) => {
    json(response, received.url === '/down' ? 503 : 200, { url: received.url });
  });
  gateway = createGateway(
    {
      listen: { host: '127.0.0.1', port: 0 },
      upstreams: { api: { url: upstream.url } },
      routes: [
        {
          method: 'GET',
          path: '/cached',
          upstream: 'api',
          policies: [{ cache: { ttlMs: 60_000 } }],
        },
        { method: 'GET', path: '/down', upstream: 'api' },
      ],
    },
    { clock: new TestClock(), ...options },
  );
  return gateway.listen();
}

describe('gateway metrics through OpenTelemetry', () => {
  it('reports requests, upstream calls and calls saved per route as observable counters', async () => {
    const reader = new CollectingReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    const base = await start({ meterProvider });
    for (let i = 0; i < 3; i++) await call(base, '/cached');
    await call(base, '/down');
    const points = await reader.points();
    expect(points.get('batchflight.gateway.requests')?.get('GET /cached')).toBe(3);
    expect(points.get('batchflight.gateway.upstream.calls')?.get('GET /cached')).toBe(1);
    expect(points.get('batchflight.gateway.upstream.calls_saved')?.get('GET /cached')).toBe(2);
    expect(points.get('batchflight.gateway.upstream.calls')?.get('GET /down')).toBe(1);
    expect(points.get('batchflight.gateway.cache.revalidated')?.get('GET /cached')).toBe(0);
    await meterProvider.shutdown();
  });
});

describe('gateway diagnostics channels', () => {
  it('publishes one request event per answer and one upstream event per call', async () => {
    const requests: GatewayRequestEvent[] = [];
    const calls: GatewayUpstreamEvent[] = [];
    const onRequest = (event: unknown): void => {
      requests.push(event as GatewayRequestEvent);
    };
    const onUpstream = (event: unknown): void => {
      calls.push(event as GatewayUpstreamEvent);
    };
    diagnosticsChannel.subscribe('batchflight:gateway:request', onRequest);
    diagnosticsChannel.subscribe('batchflight:gateway:upstream', onUpstream);
    try {
      const base = await start();
      await call(base, '/cached');
      await call(base, '/cached');
      await call(base, '/down');
    } finally {
      diagnosticsChannel.unsubscribe('batchflight:gateway:request', onRequest);
      diagnosticsChannel.unsubscribe('batchflight:gateway:upstream', onUpstream);
    }
    expect(requests.map((e) => [e.name, e.status])).toEqual([
      ['GET /cached', 200],
      ['GET /cached', 200],
      ['GET /down', 503],
    ]);
    // The cache hit made no upstream call.
    expect(calls.map((e) => [e.name, e.upstream, e.status])).toEqual([
      ['GET /cached', 'api', 200],
      ['GET /down', 'api', 503],
    ]);
  });
});
