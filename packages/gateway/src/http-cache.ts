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
 *
 * Revalidation (RFC 9111 §4.3): an answer stored with an `ETag` or `Last-Modified` is
 * refreshed, once it is stale, by a conditional request (`If-None-Match`, `If-Modified-Since`);
 * a `304 Not Modified` makes the stored answer fresh again, with the headers the 304 updates,
 * and no body crosses the network. The stale entry is what the cache still holds: within
 * `staleWhileRevalidateMs` or `staleIfErrorMs` after the route's TTL, and whenever the
 * upstream's `max-age` ended before the route's TTL. Past those, a read is a plain miss.
 */
import { Cache, MemoryCacheStore, type CacheStore } from 'batchflight/cache';
import { SingleFlight } from 'batchflight/singleflight';
import type { Clock, Handler, Layer } from 'batchflight/core';
import type { CachePolicyConfig } from './config.js';
import { headerValue, type GatewayRequest, type GatewayResponse } from './http.js';
import { requestKey } from './keys.js';

// RFC 9110 §15.1: the statuses cacheable by default (206 left out: ranges are not handled).
const CACHEABLE_STATUS = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]);

/** What the cache keeps of an answer. */
export interface Stored {
  readonly response: GatewayResponse;
  /** When the upstream's own max-age ends, if it is shorter than the route's TTL. */
  readonly expiresAt: number | undefined;
}

// Headers a 304 may not replace in the stored answer: they describe the stored body, which the
// 304 did not carry (RFC 9111 §3.2 lists content-length among those kept).
const KEPT_ON_304 = new Set([
  'content-length',
  'content-encoding',
  'content-type',
  'content-range',
]);

/** The conditional headers that revalidate `response`, or undefined when it has no validator. */
export function validatorsOf(response: GatewayResponse): Record<string, string> | undefined {
  const etag = headerValue(response.headers, 'etag');
  const modified = headerValue(response.headers, 'last-modified');
  if (etag === undefined && modified === undefined) return undefined;
  return {
    ...(etag === undefined ? {} : { 'if-none-match': etag }),
    ...(modified === undefined ? {} : { 'if-modified-since': modified }),
  };
}

/** The stored answer with the headers a `304 Not Modified` brought (RFC 9111 §4.3.4). */
export function refreshedBy(
  stored: GatewayResponse,
  notModified: GatewayResponse,
): GatewayResponse {
  const headers: Record<string, string | string[]> = { ...stored.headers };
  for (const [name, value] of Object.entries(notModified.headers)) {
    if (!KEPT_ON_304.has(name)) headers[name] = value;
  }
  return { status: stored.status, headers, body: stored.body };
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
  /** Stale answers made fresh again by a `304 Not Modified` (no body transferred). */
  revalidated(): number;
  close(): Promise<void>;
}

/**
 * Encodes stored answers for a networked store (Redis): JSON with the body in base64, so that
 * any bytes survive, not only UTF-8 text.
 */
export const storedCodec = {
  encode(value: unknown): string {
    const { response, expiresAt } = value as Stored;
    return JSON.stringify({
      s: response.status,
      h: response.headers,
      b: response.body.toString('base64'),
      e: expiresAt ?? null,
    });
  },
  decode(text: string): Stored {
    const raw = JSON.parse(text) as {
      s: number;
      h: Record<string, string | string[]>;
      b: string;
      e: number | null;
    };
    return {
      response: { status: raw.s, headers: raw.h, body: Buffer.from(raw.b, 'base64') },
      expiresAt: raw.e ?? undefined,
    };
  },
};

/**
 * Builds the cache policy of a route.
 *
 * @param store - where entries live; default a memory store of the route's own (closed with
 *   it). A store passed in is shared between routes (their keys start with the route's name)
 *   and left open.
 */
export function httpCache(
  config: CachePolicyConfig,
  name: string,
  clock: Clock,
  store?: CacheStore,
): HttpCachePolicy {
  const entries = store ?? new MemoryCacheStore({ clock });
  // No namespace, version or scope option: the store key is the key given to get(), so that a
  // computation can read the stale entry it replaces (the core cache hands it no such thing).
  // The scope is the first part of that key instead.
  const cache = new Cache({
    ttlMs: config.ttlMs,
    staleWhileRevalidateMs: config.staleWhileRevalidateMs,
    staleIfErrorMs: config.staleIfErrorMs,
    store: entries,
    clock,
    name,
  });
  // Refreshing an entry whose upstream max-age ended: one refresh per key, not one per reader.
  const refreshes = new SingleFlight<Stored>({ clock });
  const methods = new Set<string>(config.methods);
  let revalidated = 0;
  // A shared store holds every route's answers: the route's name keeps them apart.
  const keyPrefix = store === undefined ? '' : `${name}\u0001`;

  const previousOf = async (key: string): Promise<Stored | undefined> => {
    try {
      const entry = await entries.get(key);
      return entry === undefined || entry.error === true ? undefined : (entry.value as Stored);
    } catch {
      // An unreachable store only costs the revalidation: the request goes out unconditional.
      return undefined;
    }
  };

  const wrap =
    (next: Handler<GatewayRequest, GatewayResponse>) =>
    async (request: GatewayRequest, ctx: Parameters<typeof next>[1]): Promise<GatewayResponse> => {
      if (!methods.has(request.method)) return next(request, ctx);
      const key = `${keyPrefix}${request.scope}\u0001${requestKey(request, config.vary)}`;
      const compute = async (
        { signal }: { readonly signal: AbortSignal },
        known?: Stored,
      ): Promise<Stored> => {
        const previous = known ?? (await previousOf(key));
        const conditional = previous === undefined ? undefined : validatorsOf(previous.response);
        const sent =
          conditional === undefined
            ? request
            : { ...request, headers: { ...request.headers, ...conditional } };
        let response = await next(sent, signal === ctx.signal ? ctx : { ...ctx, signal });
        if (response.status === 304 && previous !== undefined && conditional !== undefined) {
          revalidated++;
          response = refreshedBy(previous.response, response);
        }
        const fresh = freshnessMs(response, config.ttlMs, config.vary);
        if (fresh === undefined) throw new Uncacheable(response);
        return { response, expiresAt: fresh < config.ttlMs ? clock.now() + fresh : undefined };
      };
      try {
        let stored = await cache.get(key, compute, { signal: ctx.signal });
        if (stored.expiresAt !== undefined && stored.expiresAt <= clock.now()) {
          const stale = stored;
          stored = await refreshes.run(
            key,
            async () => {
              await cache.invalidate(key);
              return cache.get(key, (flight) => compute(flight, stale), { signal: ctx.signal });
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
  return {
    layer: { wrap },
    cache,
    revalidated: () => revalidated,
    async close() {
      await cache.close();
      if (store === undefined) await entries.close?.();
    },
  };
}
