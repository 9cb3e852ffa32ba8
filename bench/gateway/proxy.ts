/**
 * A proxy under test, in a process of its own so that each one gets the same share of the two
 * cores: `gateway <config JSON>` (the batchflight gateway built from that config) or
 * `http-proxy <upstream origin>` (`@fastify/http-proxy` on fastify 5, its defaults: undici,
 * 128 connections). Prints its port on standard output, loopback only; exits on SIGTERM.
 */
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import proxy from '@fastify/http-proxy';
import type { GatewayConfigInput } from '@batchflight/gateway';

const [kind, arg = ''] = process.argv.slice(2);
let close: () => Promise<void>;
let port: number;
if (kind === 'gateway') {
  // Loaded only here: the peer's process does not load the gateway's modules.
  const { createGateway } = await import('@batchflight/gateway');
  const gateway = createGateway(JSON.parse(arg) as GatewayConfigInput);
  port = Number(new URL(await gateway.listen(0)).port);
  close = () => gateway.close();
} else if (kind === 'http-proxy') {
  const server = Fastify({ logger: false });
  await server.register(proxy, { upstream: arg });
  await server.listen({ host: '127.0.0.1', port: 0 });
  port = (server.server.address() as AddressInfo).port;
  close = () => server.close();
} else {
  throw new Error(`proxy.ts: got ${JSON.stringify(kind)}; expected gateway or http-proxy`);
}
process.once('SIGTERM', () => {
  void close().then(() => process.exit(0));
});
process.stdout.write(`${String(port)}\n`);
