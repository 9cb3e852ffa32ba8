/**
 * A Prometheus scrape endpoint for services without an OpenTelemetry collector: a meter
 * provider whose only reader is `@opentelemetry/exporter-prometheus`, served on an HTTP
 * server of our own (so port 0 works and the address is known when the promise resolves).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { integerOption, knownOptions } from 'batchflight/kit';
import { instrument, type InstrumentOptions, type Instrumentation } from './instrument.js';

/** Options of {@link servePrometheus}. */
export interface PrometheusOptions {
  /** TCP port; 0 picks a free one (read it from `url`). Default 9464, Prometheus' OpenTelemetry port. */
  readonly port?: number;
  /** Interface to listen on. Default `'127.0.0.1'`: exposing metrics is a decision. */
  readonly host?: string;
  /** Path of the scrape endpoint. Default `'/metrics'`. */
  readonly path?: string;
  /** Passed to {@link instrument}; `meterProvider` is the endpoint's own. */
  readonly instrument?: Omit<InstrumentOptions, 'meterProvider'> | false;
}

/** A running endpoint. */
export interface PrometheusEndpoint extends AsyncDisposable {
  /** The scrape URL, e.g. `http://127.0.0.1:9464/metrics`. */
  readonly url: string;
  /** The provider the endpoint reads: create your own instruments on it too. */
  readonly meterProvider: MeterProvider;
  /** The instrumentation of the batchflight channels, unless `instrument: false`. */
  readonly instrumentation: Instrumentation | undefined;
  /** Stops instrumenting, closes the server and shuts the provider down. Idempotent. */
  close(): Promise<void>;
}

const WHERE = 'servePrometheus()';

/**
 * Starts a Prometheus endpoint and (unless `instrument: false`) instruments every
 * batchflight primitive onto it.
 *
 * @example
 * ```ts
 * const endpoint = await servePrometheus({ port: 9464 });
 * console.log(`scrape ${endpoint.url}`);
 * ```
 */
export async function servePrometheus(
  options: PrometheusOptions = {},
): Promise<PrometheusEndpoint> {
  knownOptions(WHERE, options, ['port', 'host', 'path', 'instrument']);
  const port = integerOption(WHERE, 'port', options.port ?? 9464, { min: 0 });
  const host = options.host ?? '127.0.0.1';
  const path = options.path ?? '/metrics';
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const meterProvider = new MeterProvider({ readers: [exporter] });
  const server: Server = createServer((request, response) => {
    if (request.method === 'GET' && request.url?.split('?')[0] === path) {
      exporter.getMetricsRequestHandler(request, response);
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port: bound } = server.address() as AddressInfo;
  const instrumentation =
    options.instrument === false ? undefined : instrument({ ...options.instrument, meterProvider });
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      instrumentation?.close();
      // Every step runs even if one fails; the first failure is reported.
      const results = await Promise.allSettled([
        new Promise<void>((resolve, reject) => {
          server.close((error) => {
            if (error) reject(error);
            else resolve();
          });
          server.closeAllConnections();
        }),
        meterProvider.shutdown(),
      ]);
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    })());
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${String(bound)}${path}`,
    meterProvider,
    instrumentation,
    close,
    [Symbol.asyncDispose]: close,
  };
}
