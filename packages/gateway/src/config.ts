/**
 * The gateway's configuration file: its schema (zod 4, strict objects, so an unknown key is an
 * error) and its loading through `@batchflight/config`, whose `ConfigError` names the file, the
 * line, the path inside it, the value and what was expected.
 *
 * The schema is the gateway's own, kept in one place so that the central configuration can
 * absorb it as one section later.
 */
import { loadConfigFile, parseConfigText, validateConfig, z } from '@batchflight/config';

const positiveInt = z.number().int().positive();
const nonNegative = z.number().nonnegative();
const durationMs = z.number().positive();
const headerName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'an HTTP header name')
  .transform((name) => name.toLowerCase());
const methodName = z
  .enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])
  .describe('an HTTP method');

/** One upstream: where it is and how its connection pool behaves. */
const upstreamSchema = z.strictObject({
  /** Origin of the upstream, e.g. `http://127.0.0.1:9001` (no path). */
  url: z.url({ protocol: /^https?$/ }),
  /** Connections of the pool. Default 64. */
  connections: positiveInt.default(64),
  /**
   * Requests sent on one connection before the first has been answered (HTTP/1.1 pipelining).
   * Default 1: a slow answer then holds up only its own request. Raise it only for an upstream
   * known to pipeline well.
   */
  pipelining: positiveInt.default(1),
  /** Longest wait for a TCP/TLS connection, in ms. Default 5 000. */
  connectTimeoutMs: durationMs.default(5_000),
  /** Longest wait for the response headers, in ms. Default 60 000. */
  headersTimeoutMs: durationMs.default(60_000),
  /** Longest silence while the body arrives, in ms. Default 60 000. */
  bodyTimeoutMs: durationMs.default(60_000),
});

const coalesceSchema = z.strictObject({
  /** Request headers that are part of the key besides the tenant and the credentials. */
  headers: z.array(headerName).default([]),
});

const cacheSchema = z.strictObject({
  /** Longest freshness, in ms; the upstream's `s-maxage`/`max-age` may shorten it. */
  ttlMs: durationMs,
  staleWhileRevalidateMs: nonNegative.default(0),
  staleIfErrorMs: nonNegative.default(0),
  /** Methods whose answers are cached. Default GET and HEAD. */
  methods: z.array(methodName).default(['GET', 'HEAD']),
  /** Request headers that are part of the key (the upstream's `Vary` must name no other). */
  vary: z.array(headerName).default([]),
  /**
   * Where answers are kept: `memory` (this process, default), `redis` (shared by every gateway
   * on the top-level `redis`), or `tiered` (a memory tier in front of Redis; a Redis delete
   * drops every process's memory copy).
   */
  store: z.enum(['memory', 'redis', 'tiered']).default('memory'),
});

const rateLimitSchema = z.strictObject({
  /** Requests admitted per `per`. */
  rate: z.number().positive(),
  per: z.union([z.enum(['second', 'minute', 'hour', 'day']), durationMs]).default('second'),
  burst: positiveInt.optional(),
  /** One budget per tenant (default) or one for the whole route. */
  perTenant: z.boolean().default(true),
  /** Share the budget with every gateway on the same Redis (`redis` must be configured). */
  fleet: z.boolean().default(false),
  /** `reject` answers 429 at once (default); `wait` queues up to `maxQueued`. */
  whenLimited: z.enum(['reject', 'wait']).default('reject'),
  maxQueued: positiveInt.default(1_000),
});

const breakerSchema = z.strictObject({
  /** Consecutive failures (5xx, network errors, timeouts) that open the circuit. Default 5. */
  failures: positiveInt.default(5),
  halfOpenAfterMs: durationMs.default(10_000),
});

const retrySchema = z.strictObject({
  /** Attempts in total, the first included. */
  maxAttempts: positiveInt.default(3),
  /** First backoff delay, in ms, doubled with full jitter. Default 100. */
  backoffMs: durationMs.default(100),
  /** Retry POST and PATCH too (only when the upstream is idempotent for them). Default false. */
  nonIdempotent: z.boolean().default(false),
});

const timeoutSchema = z.strictObject({ ms: durationMs });

const bulkheadSchema = z.strictObject({
  maxConcurrent: positiveInt,
  maxQueued: z.number().int().nonnegative().default(0),
  /** `Retry-After` of the 503 answered when every slot and queue place is taken. */
  retryAfterSeconds: positiveInt.default(1),
});

/** How single-item requests are gathered into one call of the upstream's bulk endpoint. */
const batchSchema = z.strictObject({
  /** The path parameter of the route that holds the item's id (`id` of `/users/:id`). */
  param: z.string().min(1),
  maxSize: positiveInt.default(100),
  /** How long a window stays open, in ms (static window). Default 2. */
  maxWaitMs: nonNegative.default(2),
  window: z.enum(['static', 'adaptive']).default('static'),
  /** Adaptive window: the latency an item should see, wait included, in ms. */
  latencyTargetMs: durationMs.optional(),
  request: z.strictObject({
    method: z.enum(['GET', 'POST']).default('GET'),
    /** The bulk endpoint's path on the upstream, e.g. `/users`. */
    path: z.string().startsWith('/'),
    /** GET: the query parameter that carries the ids, e.g. `ids` for `?ids=1,2,3`. */
    query: z.string().min(1).default('ids'),
    separator: z.string().min(1).default(','),
    /** POST: the field of the JSON body that carries the ids as an array, e.g. `ids`. */
    bodyField: z.string().min(1).default('ids'),
  }),
  response: z.strictObject({
    /** Dot path of the array of items in the JSON answer; empty for the top level. */
    items: z.string().default(''),
    /** The field of an item that holds its id. */
    key: z.string().min(1).default('id'),
    /** A field that, when present on an item, makes it that caller's 502 with its text. */
    error: z.string().min(1).optional(),
  }),
});

/** One policy of a route: an object with exactly one of the policy keys. */
const policySchema = z
  .strictObject({
    coalesce: coalesceSchema.optional(),
    cache: cacheSchema.optional(),
    rateLimit: rateLimitSchema.optional(),
    breaker: breakerSchema.optional(),
    retry: retrySchema.optional(),
    timeout: timeoutSchema.optional(),
    bulkhead: bulkheadSchema.optional(),
    batch: batchSchema.optional(),
  })
  .refine((policy) => Object.keys(policy).length === 1, {
    error: 'exactly one policy per list item (coalesce, cache, rateLimit, ...)',
  });

const routeSchema = z.strictObject({
  method: methodName,
  /** A path pattern with `:name` parameters, e.g. `/users/:id`. */
  path: z.string().startsWith('/'),
  /** The name of an entry of `upstreams`. */
  upstream: z.string().min(1),
  /** Only these tenants may use the route; anyone else gets 403 (also in a `/batch` slot). */
  allowTenants: z.array(z.string()).optional(),
  /**
   * Ordered policies, the first sees the request first. With `batch`, the policies before it
   * apply to each item, the ones after it to the bulk call.
   */
  policies: z.array(policySchema).default([]),
});

/**
 * A composite route: one GET answered by several gateway routes called in parallel (each with
 * its own policies and the caller's identity), assembled into one JSON document.
 */
const compositeSchema = z.strictObject({
  /** The path of the composite, e.g. `/startup`. */
  path: z.string().startsWith('/'),
  /** Part name → the URL (path and query) of a configured route, e.g. `profile: /me`. */
  parts: z.record(z.string().min(1), z.string().startsWith('/')),
});

const tenantSchema = z.strictObject({
  /** The request header that names the tenant. Default `x-tenant-id`. */
  header: headerName.default('x-tenant-id'),
  /** Answer 400 to a request without it. Default false. */
  required: z.boolean().default(false),
  /** What a tenant id may look like; anything else is a 400. */
  pattern: z.string().default('^[A-Za-z0-9._-]{1,128}$'),
});

const consolidatedSchema = z.strictObject({
  /** Path of the consolidated endpoint. Default `/batch`. */
  path: z.string().startsWith('/').default('/batch'),
  /** Most sub-requests of one call. Default 1 000 (Microsoft Graph's `$batch` takes 20). */
  maxRequests: positiveInt.default(1_000),
});

/** The schema of a gateway configuration file. */
export const gatewayConfigSchema = z
  .strictObject({
    listen: z
      .strictObject({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65_535).default(8080),
      })
      .default({ host: '127.0.0.1', port: 8080 }),
    tenant: tenantSchema.default({
      header: 'x-tenant-id',
      required: false,
      pattern: '^[A-Za-z0-9._-]{1,128}$',
    }),
    /** Request headers that identify the caller: always part of every key. */
    credentials: z.array(headerName).default(['authorization', 'cookie']),
    /** A request with this header set to `1`/`true` skips the batching window (never the limits). */
    urgentHeader: headerName.default('x-urgent'),
    /** Largest request body, in bytes. Default 1 MiB. */
    bodyLimitBytes: positiveInt.default(1_048_576),
    /** Structured access log (pino) on standard output. Default false. */
    accessLog: z.boolean().default(false),
    /**
     * Redis for fleet-wide rate limits (`rateLimit.fleet`) and shared caches (`cache.store`):
     * every gateway on it shares the same budgets and answers.
     */
    redis: z
      .strictObject({
        url: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL'),
        /** Prefix of every key, to share one Redis between deployments. */
        prefix: z.string().default('batchflight:gateway:'),
      })
      .optional(),
    /** Longest wait for in-flight requests at close, in ms. Default 10 000. */
    drainTimeoutMs: durationMs.default(10_000),
    upstreams: z.record(z.string(), upstreamSchema),
    routes: z.array(routeSchema),
    /** Composite routes (seed 002's consolidated startup endpoint without writing a server). */
    composites: z.array(compositeSchema).default([]),
    consolidated: z
      .union([consolidatedSchema, z.literal(false)])
      .default({ path: '/batch', maxRequests: 1_000 }),
  })
  .superRefine((config, ctx) => {
    for (const [index, route] of config.routes.entries()) {
      if (!(route.upstream in config.upstreams)) {
        ctx.addIssue({
          code: 'custom',
          path: ['routes', index, 'upstream'],
          input: route.upstream,
          message: `one of the upstreams (${Object.keys(config.upstreams).join(', ')})`,
        });
      }
      for (const [at, policy] of route.policies.entries()) {
        if (policy.rateLimit?.fleet === true && config.redis === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['routes', index, 'policies', at, 'rateLimit', 'fleet'],
            input: true,
            message: 'a redis section at the top level for a fleet-wide limit',
          });
        }
        const store = policy.cache?.store;
        if (store !== undefined && store !== 'memory' && config.redis === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['routes', index, 'policies', at, 'cache', 'store'],
            input: store,
            message: `a redis section at the top level for a ${store} cache store`,
          });
        }
      }
      const batches = route.policies.filter((policy) => policy.batch !== undefined);
      const batchPolicy = batches[0]?.batch;
      if (batches.length > 1) {
        ctx.addIssue({
          code: 'custom',
          path: ['routes', index, 'policies'],
          message: 'at most one batch policy per route',
        });
      } else if (batchPolicy !== undefined && !route.path.includes(`:${batchPolicy.param}`)) {
        ctx.addIssue({
          code: 'custom',
          path: ['routes', index, 'policies'],
          input: batchPolicy.param,
          message: `a batch param that is a parameter of the path ${route.path}`,
        });
      }
    }
    try {
      new RegExp(config.tenant.pattern);
    } catch {
      ctx.addIssue({
        code: 'custom',
        path: ['tenant', 'pattern'],
        input: config.tenant.pattern,
        message: 'a valid regular expression',
      });
    }
  });

/** A validated gateway configuration (defaults filled in). */
export type GatewayConfig = z.output<typeof gatewayConfigSchema>;
/** A gateway configuration as written (defaults optional). */
export type GatewayConfigInput = z.input<typeof gatewayConfigSchema>;
/** One route of a {@link GatewayConfig}. */
export type RouteConfig = GatewayConfig['routes'][number];
/** One policy of a route: exactly one key set. */
export type PolicyConfig = RouteConfig['policies'][number];
/** The `batch` policy of a route. */
export type BatchPolicyConfig = NonNullable<PolicyConfig['batch']>;
/** The `cache` policy of a route. */
export type CachePolicyConfig = NonNullable<PolicyConfig['cache']>;
/** One composite route of a {@link GatewayConfig}. */
export type CompositeConfig = GatewayConfig['composites'][number];
/** One upstream of a {@link GatewayConfig}. */
export type UpstreamConfig = GatewayConfig['upstreams'][string];

/**
 * Reads and validates a gateway configuration file (YAML or JSON).
 *
 * @throws ConfigError naming the file, the line, the path, the value and the contract.
 * @example
 * ```ts
 * const config = await loadGatewayConfig('gateway.yaml');
 * ```
 */
export function loadGatewayConfig(file: string): Promise<GatewayConfig> {
  return loadConfigFile(file, gatewayConfigSchema);
}

/** Validates a configuration text (YAML or JSON) that did not come from a file. */
export function parseGatewayConfig(
  text: string,
  source: string,
  format?: 'yaml' | 'json',
): GatewayConfig {
  return parseConfigText(
    text,
    format === undefined ? { source } : { source, format },
    gatewayConfigSchema,
  );
}

/** Validates a configuration built in code (a test, an embedding application). */
export function validateGatewayConfig(value: unknown, source = 'config'): GatewayConfig {
  return validateConfig(value, source, gatewayConfigSchema);
}
