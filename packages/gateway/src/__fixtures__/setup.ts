/** Starts a test upstream and a gateway in front of it, on loopback, with a TestClock. */
import { TestClock } from '@batchflight/testing';
import { createGateway, type Gateway } from '../gateway.js';
import type { GatewayConfigInput } from '../config.js';
import { startUpstream, type TestUpstream, type UpstreamHandler } from './upstream.js';

export interface Setup {
  readonly upstream: TestUpstream;
  readonly gateway: Gateway;
  readonly base: string;
  readonly clock: TestClock;
  close(): Promise<void>;
}

type RoutesInput = GatewayConfigInput['routes'];

/** The routes get `upstream: 'api'`; the rest of the config may be overridden. */
export async function setup(
  routes: readonly Omit<RoutesInput[number], 'upstream'>[],
  handler: UpstreamHandler,
  extra: Partial<GatewayConfigInput> = {},
): Promise<Setup> {
  const upstream = await startUpstream(handler);
  const clock = new TestClock();
  const gateway = createGateway(
    {
      listen: { host: '127.0.0.1', port: 0 },
      upstreams: { api: { url: upstream.url } },
      routes: routes.map((route) => ({ ...route, upstream: 'api' })),
      drainTimeoutMs: 5_000,
      ...extra,
    },
    { clock },
  );
  const base = await gateway.listen();
  return {
    upstream,
    gateway,
    base,
    clock,
    async close() {
      await gateway.close();
      await upstream.close();
    },
  };
}
