/**
 * A route: its ordered policies turned into core primitives and composed with `stack()` around
 * the upstream call. Nothing here re-implements a policy; this file decides only which
 * primitive a config entry becomes, what its key is and which failures it sees.
 *
 * Order is request order: the first policy sees the request first. With `batch`, the policies
 * listed before it wrap each item's call, the ones after it wrap the bulk call.
 *
 * Answers stream through unless a policy shares or keeps them: `coalesce`, `cache` and `batch`
 * see complete answers (their layer reads the body first); the protection policies (rate limit,
 * breaker, retry, timeout, bulkhead) see the answer once its headers are in, so on a route with
 * only those a timeout bounds the wait for the headers (undici's `bodyTimeoutMs` the silences of
 * the body after them) and a bulkhead slot is held until the headers. A failure status (5xx,
 * 429) is always read in full: it becomes the `UpstreamStatusError` that breaker and retry see.
 */
import {
  stack,
  TimeoutError,
  type CallContext,
  type Clock,
  type Handler,
  type Layer,
  BatchflightError,
} from 'batchflight/core';
import { SingleFlight } from 'batchflight/singleflight';
import { rateLimit, type RateLimitStore } from 'batchflight/rate-limit';
import { circuitBreaker, consecutive } from 'batchflight/circuit-breaker';
import { retry, exponentialBackoff } from 'batchflight/retry';
import { timeout } from 'batchflight/timeout';
import { bulkhead } from 'batchflight/bulkhead';
import type { BatchStats } from 'batchflight/batch';
import type { CacheStats, CacheStore } from 'batchflight/cache';
import type { PolicyConfig, RouteConfig } from './config.js';
import { errorResponse, isFailureStatus, UpstreamStatusError } from './errors.js';
import {
  buffered,
  isStreamed,
  IDEMPOTENT_METHODS,
  type GatewayRequest,
  type GatewayResponse,
  type ProxiedResponse,
} from './http.js';
import { requestKey } from './keys.js';
import { httpCache } from './http-cache.js';
import { bulkSource } from './bulk.js';
import type { Upstream } from './upstream.js';
import { gatewayChannels } from './channels.js';

type RouteHandler = Handler<GatewayRequest, ProxiedResponse>;
type RouteLayer = Layer<GatewayRequest, ProxiedResponse>;

/** The handler below a layer that needs complete answers (it shares or keeps them). */
const complete =
  (next: RouteHandler): Handler<GatewayRequest, GatewayResponse> =>
  async (request, ctx) =>
    buffered(await next(request, ctx));

/** What a route did, for `stats()` and `/metrics`. */
export interface RouteStats {
  /** `METHOD /path/pattern`. */
  readonly route: string;
  /** Requests the route answered (sub-requests of `/batch` included). */
  readonly requests: number;
  /** Calls that reached the upstream (a bulk call counts once). */
  readonly upstreamCalls: number;
  /** `requests - upstreamCalls`: what coalescing, caching and batching saved. */
  readonly saved: number;
  readonly cache?: CacheStats;
  /** Stale cached answers made fresh again by a `304 Not Modified`, without a body transfer. */
  readonly revalidated?: number;
  readonly batch?: BatchStats;
}

/** A route ready to serve. */
export interface Route {
  readonly name: string;
  readonly config: RouteConfig;
  /**
   * Answers a request: never rejects, every failure becomes its HTTP answer. The answer is
   * complete unless `request.stream` is set.
   */
  handle(request: GatewayRequest, ctx: CallContext): Promise<ProxiedResponse>;
  stats(): RouteStats;
  /** Drains the route's batcher and closes its cache and limiter. */
  close(): Promise<void>;
}

// The failures that say something about the upstream's health (not the caller's fault, not a
// local refusal): the breaker counts them and the retry repeats them.
function upstreamFailure(error: unknown): boolean {
  if (UpstreamStatusError.is(error)) return isFailureStatus(error.status);
  if (TimeoutError.is(error)) return true;
  // A network error (undici's) rather than one batchflight or the gateway decided on.
  return !BatchflightError.is(error);
}

/** The stores a gateway shares between its routes (and keeps across reloads). */
export interface SharedStores {
  /** Fleet-wide rate limits, when the gateway has Redis. */
  readonly limits?: RateLimitStore | undefined;
  /** Cached answers for `cache.store` `redis` and `tiered`, when the gateway has Redis. */
  readonly caches?: Readonly<Record<'redis' | 'tiered', CacheStore>> | undefined;
}

/** Builds a route from its config. */
export function buildRoute(
  config: RouteConfig,
  upstream: Upstream,
  clock: Clock,
  shared: SharedStores = {},
): Route {
  const fleetStore = shared.limits;
  const name = `${config.method} ${config.path}`;
  let requests = 0;
  let upstreamCalls = 0;
  let bulkheadRetryAfter = 1;
  const closers: (() => Promise<void>)[] = [];
  let cacheStats: (() => CacheStats) | undefined;
  let revalidated: (() => number) | undefined;
  let batchStats: (() => BatchStats) | undefined;

  const toUpstream: RouteHandler = async (request, ctx) => {
    upstreamCalls++;
    if (!gatewayChannels.upstream.hasSubscribers) {
      const response = await upstream.send(request, ctx);
      if (isFailureStatus(response.status)) throw new UpstreamStatusError(await buffered(response));
      return response;
    }
    const started = clock.now();
    let status: number | undefined;
    try {
      const response = await upstream.send(request, ctx);
      status = response.status;
      if (isFailureStatus(status)) throw new UpstreamStatusError(await buffered(response));
      return response;
    } finally {
      gatewayChannels.upstream.publish({
        name,
        upstream: upstream.name,
        status,
        durationMs: clock.now() - started,
      });
    }
  };

  const layerOf = (policy: PolicyConfig): RouteLayer | undefined => {
    if (policy.coalesce !== undefined) {
      const headers = policy.coalesce.headers;
      const layer = new SingleFlight<GatewayResponse>({ clock, name }).layer<
        GatewayRequest,
        GatewayResponse
      >({ key: (request) => requestKey(request, headers) });
      return { wrap: (next) => layer.wrap(complete(next)) };
    }
    if (policy.cache !== undefined) {
      const where = policy.cache.store;
      const built = httpCache(
        policy.cache,
        name,
        clock,
        where === 'memory' ? undefined : shared.caches?.[where],
      );
      closers.push(() => built.close());
      cacheStats = () => built.cache.stats();
      revalidated = () => built.revalidated();
      return { wrap: (next) => built.layer.wrap(complete(next)) };
    }
    if (policy.rateLimit !== undefined) {
      const spec = policy.rateLimit;
      const limiter = rateLimit<GatewayRequest>({
        rate: spec.rate,
        per: spec.per,
        ...(spec.burst === undefined ? {} : { burst: spec.burst }),
        whenLimited: spec.whenLimited,
        maxQueued: spec.maxQueued,
        name: `gateway:${name}`,
        clock,
        ...(spec.fleet && fleetStore !== undefined ? { store: fleetStore } : {}),
        key: (request) => (spec.perTenant ? `t:${request.tenant ?? ''}` : 'route'),
      });
      closers.push(() => limiter.close());
      // The limit is per tenant (or per route), not per caller: the limiter gets no scope.
      return {
        wrap: (next) => {
          // Contexts are rebuilt field by field: a batch's load context has a lazy signal getter
          // that an object spread would drop.
          const restoreScope: RouteHandler = (request, ctx) =>
            next(request, { signal: ctx.signal, scope: request.scope, urgent: ctx.urgent });
          const limited = limiter.wrap(restoreScope);
          return (request, ctx) =>
            limited(request, { signal: ctx.signal, scope: undefined, urgent: ctx.urgent });
        },
      };
    }
    if (policy.breaker !== undefined) {
      return circuitBreaker<GatewayRequest, ProxiedResponse>({
        name,
        clock,
        policy: consecutive(policy.breaker.failures),
        halfOpenAfterMs: policy.breaker.halfOpenAfterMs,
        failureOn: upstreamFailure,
      });
    }
    if (policy.retry !== undefined) {
      const spec = policy.retry;
      const methodMayRepeat = spec.nonIdempotent || IDEMPOTENT_METHODS.has(config.method);
      return retry<GatewayRequest, ProxiedResponse>({
        maxAttempts: spec.maxAttempts,
        backoff: exponentialBackoff({ initialDelayMs: spec.backoffMs }),
        clock,
        retryOn: (error) => methodMayRepeat && upstreamFailure(error),
      });
    }
    if (policy.timeout !== undefined) {
      return timeout<GatewayRequest, ProxiedResponse>({ ms: policy.timeout.ms, clock });
    }
    if (policy.bulkhead !== undefined) {
      bulkheadRetryAfter = policy.bulkhead.retryAfterSeconds;
      return bulkhead<GatewayRequest, ProxiedResponse>({
        maxConcurrent: policy.bulkhead.maxConcurrent,
        maxQueued: policy.bulkhead.maxQueued,
      });
    }
    return undefined;
  };

  const batchAt = config.policies.findIndex((policy) => policy.batch !== undefined);
  let handler: RouteHandler;
  if (batchAt === -1) {
    handler = stack(...config.policies.map(layerOf).filter(isLayer)).wrap(toUpstream);
  } else {
    const itemLayers = config.policies.slice(0, batchAt).map(layerOf).filter(isLayer);
    const bulkLayers = config.policies
      .slice(batchAt + 1)
      .map(layerOf)
      .filter(isLayer);
    const bulk = complete(stack(...bulkLayers).wrap(toUpstream));
    const batchConfig = config.policies[batchAt]?.batch;
    if (batchConfig === undefined) throw new Error('unreachable: batchAt points at a batch policy');
    const source = bulkSource(batchConfig, name, bulk, clock);
    closers.push(() => source.batcher.close());
    batchStats = () => source.batcher.stats();
    const items: RouteHandler = source.handler;
    handler = stack(...itemLayers).wrap(items);
  }

  return {
    name,
    config,
    async handle(request, ctx) {
      requests++;
      const observed = gatewayChannels.request.hasSubscribers;
      const started = observed ? clock.now() : 0;
      let response: ProxiedResponse;
      try {
        response = await handler(request, ctx);
      } catch (error) {
        response = errorResponse(error, bulkheadRetryAfter);
      }
      if (observed) {
        gatewayChannels.request.publish({
          name,
          method: request.method,
          status: response.status,
          durationMs: clock.now() - started,
          streamed: isStreamed(response),
        });
      }
      return response;
    },
    stats() {
      return {
        route: name,
        requests,
        upstreamCalls,
        saved: Math.max(0, requests - upstreamCalls),
        ...(cacheStats === undefined ? {} : { cache: cacheStats() }),
        ...(revalidated === undefined ? {} : { revalidated: revalidated() }),
        ...(batchStats === undefined ? {} : { batch: batchStats() }),
      };
    },
    async close() {
      const results = await Promise.allSettled(closers.map((close) => close()));
      const failed = results.find((result) => result.status === 'rejected');
      if (failed?.status === 'rejected') throw failed.reason;
    },
  };
}

function isLayer(layer: RouteLayer | undefined): layer is RouteLayer {
  return layer !== undefined;
}
