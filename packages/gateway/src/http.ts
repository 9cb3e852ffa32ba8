/**
 * The request and response shapes that travel through a route's policy stack, and the header
 * rules of a proxy: which headers never cross it (hop-by-hop, RFC 9110 §7.6.1).
 */

/** Header values as Node and undici give them. */
export type HeaderMap = Record<string, string | string[] | undefined>;

/** What a route's handler receives: one request, already matched and scoped. */
export interface GatewayRequest {
  readonly method: string;
  /** The upstream path with its query string, e.g. `/users/42?fields=name`. */
  readonly url: string;
  /** The path parameters of the route pattern. */
  readonly params: Readonly<Record<string, string>>;
  /** The headers forwarded upstream (hop-by-hop removed, lower-case names). */
  readonly headers: Readonly<Record<string, string | string[]>>;
  readonly body: Buffer | undefined;
  /**
   * Partition of everything shared between callers: the tenant and a digest of the caller's
   * credentials, so that two tenants or two users never share an answer.
   */
  readonly scope: string;
  /** The tenant named by the request's tenant header, if any. */
  readonly tenant: string | undefined;
}

/** One request as the gateway dispatches it (from HTTP or from a `/batch` sub-request). */
export interface DispatchRequest {
  readonly method: string;
  /** Path and query string. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer | undefined;
  /** Aborts when the caller has gone. */
  readonly signal: AbortSignal;
}

/** A complete upstream answer, buffered so that it can be shared, cached and re-sent. */
export interface GatewayResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[]>>;
  readonly body: Buffer;
}

// Connection-level headers a proxy must not forward (RFC 9110 §7.6.1), plus the ones the
// gateway recomputes (host, content-length).
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
]);

/** The headers of `headers` a proxy forwards, with lower-case names and no empty values. */
export function forwardable(headers: HeaderMap): Record<string, string | string[]> {
  const named = new Set<string>();
  const connection = headers.connection;
  // `Connection: x-foo` makes x-foo hop-by-hop too.
  for (const value of [connection ?? []].flat()) {
    for (const part of value.split(',')) named.add(part.trim().toLowerCase());
  }
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(lower) || named.has(lower)) continue;
    out[lower] = value;
  }
  return out;
}

/** One header's value as a single string (list values joined with `, `), or undefined. */
export function headerValue(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  name: string,
): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** A JSON answer made by the gateway itself (errors, /batch, health). */
export function jsonResponse(
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): GatewayResponse {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
    body: Buffer.from(JSON.stringify(value)),
  };
}

/** Methods a retry may repeat without the route opting in (RFC 9110 §9.2.2). */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'OPTIONS',
  'PUT',
  'DELETE',
]);
