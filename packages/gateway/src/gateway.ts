/**
 * The gateway: a fastify server whose every request is matched against the configured routes
 * (find-my-way, fastify's own router, held apart so that a new configuration can replace the
 * table without restarting the server) and answered by that route's policy stack.
 *
 * Lifecycle: `createGateway(config)` builds the routes and pools; `listen()` binds; `close()`
 * stops accepting, lets requests in flight finish within `drainTimeoutMs` (then aborts them),
 * drains the batchers and closes caches, limiters and pools. Idempotent.
 */
import { setMaxListeners } from 'node:events';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import FindMyWay from 'find-my-way';
import { ClosedError, systemClock, type Clock } from 'batchflight/core';
import { validateGatewayConfig, type GatewayConfig, type GatewayConfigInput } from './config.js';
import { compositeRoute } from './composite.js';
import { consolidated } from './consolidated.js';
import {
  buffered,
  forwardable,
  headerValue,
  isStreamed,
  jsonResponse,
  type DispatchRequest,
  type GatewayRequest,
  type GatewayResponse,
  type ProxiedResponse,
} from './http.js';
import type { CallContext } from 'batchflight/core';
import { scopeOf } from './keys.js';
import { metricsText } from './metrics.js';
import { buildRoute, type Route, type RouteStats, type SharedStores } from './route.js';
import { storedCodec } from './http-cache.js';
import { observeGateway, type MeterProviderLike } from './telemetry.js';
import { Upstream } from './upstream.js';
import { Redis, RedisCacheStore, RedisRateLimitStore } from '@batchflight/redis';
import { MemoryCacheStore, tieredStore } from 'batchflight/cache';

// The request shape lives in http.ts beside the response (consolidated.ts needs it without a
// cycle back to this file); the package index re-exports it from here.
export type { DispatchRequest } from './http.js';

/** Options of {@link createGateway} besides the configuration. */
export interface GatewayOptions {
  /** Time source of every policy (windows, TTLs, timeouts, limits). Default: the system clock. */
  readonly clock?: Clock;
  /**
   * An OpenTelemetry `MeterProvider`: the gateway's counters per route (requests, upstream
   * calls, calls saved, revalidations) become observable counters of the meter
   * `@batchflight/gateway`, read from `stats()` at each collection. Default: none.
   */
  readonly meterProvider?: MeterProviderLike;
}

/** A running gateway. */
export interface Gateway extends AsyncDisposable {
  /** The fastify instance (for `inject()` in tests or mounting extra routes before listen). */
  readonly server: FastifyInstance;
  /** Binds to `port` (default: the config's) and resolves to the base URL. */
  listen(port?: number): Promise<string>;
  /** The base URL once listening. */
  readonly url: string | undefined;
  /** Answers one request through its route, as an HTTP request would be. */
  dispatch(request: DispatchRequest): Promise<GatewayResponse>;
  /** Counters per route. */
  stats(): RouteStats[];
  /**
   * Replaces the routes, upstreams and policies with those of a new configuration without
   * dropping a request: requests already running finish on the old routes, which then drain
   * and close. An invalid configuration throws its `ConfigError` and the running one stays.
   * `listen`, `bodyLimitBytes` and `accessLog` apply at start only.
   */
  reload(config: GatewayConfig | GatewayConfigInput): Promise<void>;
  /** Graceful shutdown; see the module comment. Idempotent. */
  close(): Promise<void>;
}

interface RouteTable {
  readonly router: FindMyWay.Instance<FindMyWay.HTTPVersion.V1>;
  readonly routes: readonly Route[];
  readonly upstreams: readonly Upstream[];
}

function buildTable(
  config: GatewayConfig,
  clock: Clock,
  dispatch: (request: DispatchRequest) => Promise<GatewayResponse>,
  shared: SharedStores,
): RouteTable {
  const upstreams = new Map<string, Upstream>();
  for (const [name, upstream] of Object.entries(config.upstreams)) {
    upstreams.set(name, new Upstream(name, upstream));
  }
  const router = FindMyWay({ ignoreTrailingSlash: false });
  const routes = config.routes.map((route) => {
    const built = buildRoute(route, upstreams.get(route.upstream) as Upstream, clock, shared);
    router.on(route.method, route.path, () => undefined, built);
    return built;
  });
  for (const composite of config.composites) {
    const built = compositeRoute(composite, dispatch);
    router.on('GET', composite.path, () => undefined, built);
    routes.push(built);
  }
  return { router, routes, upstreams: [...upstreams.values()] };
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** A request matched to its route, checked and scoped: what the route's handler receives. */
interface Prepared {
  readonly route: Route;
  readonly input: GatewayRequest;
  readonly ctx: CallContext;
}

const URGENT = /^(?:1|true|yes)$/i;

/**
 * Builds a gateway from a configuration (validated here too, so one built in code gets the same
 * errors as a file).
 *
 * @example
 * ```ts
 * const gateway = createGateway(await loadGatewayConfig('gateway.yaml'));
 * console.log(await gateway.listen());
 * ```
 */
export function createGateway(
  input: GatewayConfig | GatewayConfigInput,
  options: GatewayOptions = {},
): Gateway {
  // Replaced as a whole by reload(); a request reads them once, at its start.
  let config = validateGatewayConfig(input);
  const clock = options.clock ?? systemClock;
  // Composite routes call back into dispatch, which is defined below.
  const dispatchLater = (request: DispatchRequest): Promise<GatewayResponse> => dispatch(request);
  // One Redis connection for the fleet-wide limits and the shared caches, kept across reloads
  // (a reload that changes the redis section applies at the next start).
  const redis =
    config.redis === undefined
      ? undefined
      : new Redis(config.redis.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  let shared: SharedStores = {};
  if (redis !== undefined && config.redis !== undefined) {
    const { prefix } = config.redis;
    const l2 = new RedisCacheStore({
      client: redis,
      prefix: `${prefix}cache:`,
      codec: storedCodec,
      clock,
    });
    shared = {
      limits: new RedisRateLimitStore({ client: redis, prefix, clock }),
      caches: { redis: l2, tiered: tieredStore(new MemoryCacheStore({ clock }), l2, { clock }) },
    };
  }
  let table = buildTable(config, clock, dispatchLater, shared);
  let tenantPattern = new RegExp(config.tenant.pattern);
  const { bodyLimitBytes, accessLog } = config;
  const inFlight = new Set<AbortController>();
  let closing: Promise<void> | undefined;
  let url: string | undefined;

  const server = Fastify({
    logger: accessLog
      ? {
          // Never bodies, credentials or query values: method, path, status and time only.
          serializers: {
            req: (request: { method: string; url: string }) => ({
              method: request.method,
              path: request.url.split('?')[0],
            }),
            res: (reply: { statusCode: number }) => ({ status: reply.statusCode }),
          },
        }
      : false,
    bodyLimit: bodyLimitBytes,
    exposeHeadRoutes: false,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
  });
  // Bodies pass through as bytes; /batch parses its own so that malformed JSON gets its 400.
  server.removeAllContentTypeParsers();
  server.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => {
    done(null, body);
  });
  server.setErrorHandler(
    (error: { statusCode?: number; code?: string; message: string }, _r, reply) => {
      const status = error.statusCode ?? 500;
      const reason = status === 413 ? 'body-too-large' : (error.code ?? 'bad-request');
      void send(reply, jsonResponse(status, { error: { reason, message: error.message } }));
    },
  );

  // Matches, checks and scopes a request. Everything the gateway answers by itself (closing,
  // no route, a bad tenant header, a tenant the route refuses) comes back as that answer.
  const prepare = (request: DispatchRequest, stream: boolean): Prepared | GatewayResponse => {
    if (closing !== undefined) {
      return jsonResponse(503, { error: { reason: 'closing', message: 'the gateway is closing' } });
    }
    const at = request.url.indexOf('?');
    const path = at === -1 ? request.url : request.url.slice(0, at);
    const found = table.router.find(request.method as 'GET', path);
    if (found === null) {
      return jsonResponse(404, {
        error: { reason: 'no-route', message: `no route for ${request.method} ${path}` },
      });
    }
    const route = found.store as Route;
    const tenantHeader = config.tenant.header;
    const rawTenant = request.headers[tenantHeader];
    if (Array.isArray(rawTenant)) {
      return badRequest('tenant-header', `header ${tenantHeader} must appear once`);
    }
    if (rawTenant === undefined && config.tenant.required) {
      return badRequest('tenant-header', `header ${tenantHeader} is required`);
    }
    if (rawTenant !== undefined && !tenantPattern.test(rawTenant)) {
      return badRequest(
        'tenant-header',
        `header ${tenantHeader}: got ${JSON.stringify(rawTenant.slice(0, 80))}; expected a value matching ${config.tenant.pattern}`,
      );
    }
    const allowed = route.config.allowTenants;
    if (allowed !== undefined && (rawTenant === undefined || !allowed.includes(rawTenant))) {
      return jsonResponse(403, {
        error: {
          reason: 'forbidden',
          message: `tenant ${JSON.stringify(rawTenant ?? null)} may not use ${route.name}`,
        },
      });
    }
    const scope = scopeOf(rawTenant, request.headers, config.credentials);
    const params: Record<string, string> = {};
    for (const name in found.params) {
      const value = found.params[name];
      if (value !== undefined) params[name] = value;
    }
    const urgentValue = headerValue(request.headers, config.urgentHeader);
    const input: GatewayRequest = {
      method: request.method,
      url: request.url,
      params,
      headers: forwardable(request.headers),
      body: request.body,
      scope,
      tenant: rawTenant,
      stream,
    };
    const urgent = urgentValue !== undefined && URGENT.test(urgentValue);
    return { route, input, ctx: { signal: request.signal, scope, urgent } };
  };

  const dispatch = async (request: DispatchRequest): Promise<GatewayResponse> => {
    const prepared = prepare(request, false);
    if (!('route' in prepared)) return prepared;
    return buffered(await prepared.route.handle(prepared.input, prepared.ctx));
  };

  // An HTTP request on a route: the answer may stream through.
  const forward = async (request: DispatchRequest): Promise<ProxiedResponse> => {
    const prepared = prepare(request, true);
    if (!('route' in prepared)) return prepared;
    return prepared.route.handle(prepared.input, prepared.ctx);
  };

  server.get('/healthz', async (_request, reply) =>
    send(reply, jsonResponse(200, { status: 'ok' })),
  );
  server.get('/readyz', async (_request, reply) =>
    send(
      reply,
      closing === undefined
        ? jsonResponse(200, { status: 'ready' })
        : jsonResponse(503, { status: 'closing' }),
    ),
  );
  server.get('/metrics', async (_request, reply) => {
    reply.header('content-type', 'text/plain; version=0.0.4; charset=utf-8');
    return reply.send(metricsText(table.routes.map((route) => route.stats())));
  });

  const answer = async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const controller = new AbortController();
    inFlight.add(controller);
    // The client went away before its answer: its share of any shared work is released.
    const onClose = (): void => {
      if (!reply.raw.writableFinished) controller.abort(new ClosedError('the client disconnected'));
    };
    reply.raw.once('close', onClose);
    try {
      const body = Buffer.isBuffer(request.body) ? request.body : undefined;
      const base = {
        method: request.method,
        url: request.url,
        headers: request.headers,
        body,
        signal: controller.signal,
      };
      let response: ProxiedResponse;
      if (
        config.consolidated !== false &&
        request.method === 'POST' &&
        splitUrl(request.url)[0] === config.consolidated.path
      ) {
        // Every sub-request of a /batch call listens to this one signal: many listeners is normal.
        setMaxListeners(0, controller.signal);
        response = await consolidated(config.consolidated, base, config, dispatch);
      } else {
        response = await forward(base);
      }
      // While closing, a keep-alive connection would outlive its last answer by the keep-alive
      // timeout: ask the client to close it instead.
      if (closing !== undefined) reply.header('connection', 'close');
      return await send(reply, response, request.method === 'HEAD');
    } finally {
      inFlight.delete(controller);
    }
  };
  server.route({ method: [...METHODS], url: '/*', handler: answer });
  server.route({ method: [...METHODS], url: '/', handler: answer });

  const unobserve =
    options.meterProvider === undefined
      ? undefined
      : observeGateway(options.meterProvider, () => table.routes.map((route) => route.stats()));

  const gateway: Gateway = {
    server,
    get url() {
      return url;
    },
    async listen(port) {
      await server.listen({ host: config.listen.host, port: port ?? config.listen.port });
      const address = server.server.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      url = `http://${host}:${String(address.port)}`;
      return url;
    },
    dispatch,
    stats: () => table.routes.map((route) => route.stats()),
    async reload(next) {
      if (closing !== undefined) throw new ClosedError('reload() after close()');
      const nextConfig = validateGatewayConfig(next);
      const nextTable = buildTable(nextConfig, clock, dispatchLater, shared);
      const previous = table;
      config = nextConfig;
      tenantPattern = new RegExp(nextConfig.tenant.pattern);
      table = nextTable;
      // Requests already in the old routes finish there; their batchers drain, then close.
      await Promise.allSettled(previous.routes.map((route) => route.close()));
      await Promise.allSettled(previous.upstreams.map((upstream) => upstream.close()));
    },
    close() {
      closing ??= (async () => {
        unobserve?.();
        let timer: NodeJS.Timeout | undefined;
        const drained = server.close();
        const overdue = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, config.drainTimeoutMs);
          timer.unref();
        });
        await Promise.race([drained, overdue]);
        clearTimeout(timer);
        // Past the drain bound: the requests still running are aborted, their sockets closed.
        for (const controller of inFlight) controller.abort(new ClosedError('the gateway closed'));
        server.server.closeAllConnections();
        await drained;
        const results = await Promise.allSettled([...table.routes.map((route) => route.close())]);
        await Promise.allSettled(table.upstreams.map((upstream) => upstream.close()));
        const caches = shared.caches;
        if (caches !== undefined) {
          // The tier first: it unsubscribes from the store below it.
          await Promise.allSettled([caches.tiered.close?.()]);
          await Promise.allSettled([caches.redis.close?.()]);
        }
        if (redis !== undefined) {
          await redis.quit().catch(() => {
            redis.disconnect();
          });
        }
        const failed = results.find((result) => result.status === 'rejected');
        if (failed?.status === 'rejected') throw failed.reason;
      })();
      return closing;
    },
    [Symbol.asyncDispose]() {
      return gateway.close();
    },
  };
  return gateway;
}

function splitUrl(url: string): [string, string | undefined] {
  const at = url.indexOf('?');
  return at === -1 ? [url, undefined] : [url.slice(0, at), url.slice(at + 1)];
}

function badRequest(reason: string, message: string): GatewayResponse {
  return jsonResponse(400, { error: { reason, message } });
}

function send(reply: FastifyReply, response: ProxiedResponse, head = false): FastifyReply {
  reply.code(response.status);
  const headers = response.headers;
  for (const name in headers) reply.header(name, headers[name]);
  if (!isStreamed(response)) return reply.send(head ? undefined : response.body);
  if (!head) return reply.send(response.stream);
  // A HEAD answer has no body; reading the empty one to its end frees the upstream connection.
  response.stream.resume();
  return reply.send(undefined);
}
