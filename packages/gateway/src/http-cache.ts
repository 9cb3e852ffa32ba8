/**
 * The `cache` policy: the core `Cache` (stampede protection, stale-while-revalidate,
 * stale-if-error, scoped keys) holding whole upstream answers, with HTTP's rules on top:
 *
 * - only the route's methods (GET and HEAD by default) and heuristically cacheable statuses
 *   are stored;
 * - `Cache-Control: no-store`, `private` or `no-cache` and `Vary: *` keep an answer out, and so
 *   does a `Vary` that names a request header the route's key does not hold;
 * - `s-maxage` (else `max-age`) shortens the route's `ttlMs`, never lengthens it.
 *
 * An answer that may not be stored leaves the cache's computation as an `Uncacheable` throw,
 * which the core cache neither stores (errors are not cached) nor hides: every caller that
 * shared the computation receives that same answer.
 */
import { Cache } from 'batchflight/cache';
import { SingleFlight } from 'batchflight/singleflight';
import type { Clock, Handler, Layer } from 'batchflight/core';
import type { CachePolicyConfig } from './config.js';
import { headerValue, type GatewayRequest, type GatewayResponse } from './http.js';
import { requestKey } from './keys.js';

// RFC 9110 §15.1: the statuses cacheable by default (206 left out: ranges are not handled).
const CACHEABLE_STATUS = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]);

interface Stored {
  readonly response: GatewayResponse;
  /** When the upstream's own max-age ends, if it is shorter than the route's TTL. */
  readonly expiresAt: number | undefined;
}

class Uncacheable extends Error {
  constructor(readonly response: GatewayResponse) {
    super('uncacheable answer');
  }
}

/**
 * How long an answer may be served, in ms, or undefined when it may not be stored.
 *
 * @param keyed - the request headers the cache key holds.
 */
export function freshnessMs(
  response: GatewayResponse,
  ttlMs: number,
  keyed: readonly string[],
): number | undefined {
  if (!CACHEABLE_STATUS.has(response.status)) return undefined;
  const control = (headerValue(response.headers, 'cache-control') ?? '').toLowerCase();
  const directives = new Map<string, string | undefined>();
  for (const part of control.split(',')) {
    const [name, value] = part.trim().split('=', 2);
    if (name !== undefined && name !== '') directives.set(name, value?.replace(/"/g, ''));
  }
  if (directives.has('no-store') || directives.has('private') || directives.has('no-cache')) {
    return undefined;
  }
  const vary = headerValue(response.headers, 'vary');
  if (vary !== undefined) {
    for (const name of vary.split(',').map((part) => part.trim().toLowerCase())) {
      if (name === '*' || (name !== '' && !keyed.includes(name))) return undefined;
    }
  }
  const maxAge = directives.get('s-maxage') ?? directives.get('max-age');
  if (maxAge === undefined) return ttlMs;
  const seconds = Number(maxAge);
  if (!Number.isFinite(seconds) || seconds <= 0) return undefined;
  return Math.min(ttlMs, seconds * 1000);
}

/** The cache policy of one route, and what must be closed with it. */
export interface HttpCachePolicy {
  readonly layer: Layer<GatewayRequest, GatewayResponse>;
  readonly cache: Cache;
  close(): Promise<void>;
}

/** Builds the cache policy of a route. */
export function httpCache(config: CachePolicyConfig, name: string, clock: Clock): HttpCachePolicy {
  const store = new Cache({
    ttlMs: config.ttlMs,
    staleWhileRevalidateMs: config.staleWhileRevalidateMs,
    staleIfErrorMs: config.staleIfErrorMs,
    clock,
    name,
  });
  // Refreshing an entry whose upstream max-age ended: one refresh per key, not one per reader.
  const refreshes = new SingleFlight<Stored>({ clock });
  const methods = new Set<string>(config.methods);
  const wrap =
    (next: Handler<GatewayRequest, GatewayResponse>) =>
    async (request: GatewayRequest, ctx: Parameters<typeof next>[1]): Promise<GatewayResponse> => {
      if (!methods.has(request.method)) return next(request, ctx);
      const key = requestKey(request, config.vary);
      const compute = async ({ signal }: { readonly signal: AbortSignal }): Promise<Stored> => {
        const response = await next(request, signal === ctx.signal ? ctx : { ...ctx, signal });
        const fresh = freshnessMs(response, config.ttlMs, config.vary);
        if (fresh === undefined) throw new Uncacheable(response);
        return { response, expiresAt: fresh < config.ttlMs ? clock.now() + fresh : undefined };
      };
      try {
        let stored = await store.get(key, compute, ctx);
        if (stored.expiresAt !== undefined && stored.expiresAt <= clock.now()) {
          stored = await refreshes.run(
            key,
            async () => {
              await store.invalidate(key, { scope: request.scope });
              return store.get(key, compute, ctx);
            },
            ctx,
          );
        }
        return stored.response;
      } catch (error) {
        if (error instanceof Uncacheable) return error.response;
        throw error;
      }
    };
  return { layer: { wrap }, cache: store, close: () => store.close() };
}
