/**
 * The request and response shapes that travel through a route's policy stack, and the header
 * rules of a proxy: which headers never cross it (hop-by-hop, RFC 9110 §7.6.1).
 */
import type { Readable } from 'node:stream';

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
  /**
   * The caller takes the upstream's body as a stream (an HTTP request on a route): the answer
   * may then be a {@link StreamedResponse}. `/batch` sub-requests and composite parts, which
   * embed bodies in JSON, leave it unset and always receive complete answers.
   */
  readonly stream?: boolean;
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

/**
 * An upstream answer whose body is still arriving, piped to the client as it comes: what a route
 * whose policies neither share nor keep answers (no `coalesce`, `cache` or `batch`) gives an
 * HTTP caller. Its headers keep the upstream's `content-length`.
 */
export interface StreamedResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[]>>;
  /** The body; destroying it cancels the upstream request. */
  readonly stream: Readable & { arrayBuffer(): Promise<ArrayBuffer> };
}

/** What a route answers: complete, or streamed when the request allowed it. */
export type ProxiedResponse = GatewayResponse | StreamedResponse;

/** True for an answer whose body is still a stream. */
export function isStreamed(response: ProxiedResponse): response is StreamedResponse {
  return 'stream' in response;
}

/** The complete form of an answer: a streamed body is read to its end. */
export async function buffered(response: ProxiedResponse): Promise<GatewayResponse> {
  if (!isStreamed(response)) return response;
  const body = Buffer.from(await response.stream.arrayBuffer());
  const { 'content-length': _length, ...headers } = response.headers;
  return { status: response.status, headers, body };
}

// Connection-level headers a proxy must not forward (RFC 9110 §7.6.1), plus the ones the
// gateway recomputes (host, content-length). An object, not a Set: `in` on a small literal is
// the cheapest test on the path every header of every request takes.
const HOP_BY_HOP: Readonly<Record<string, true>> = {
  connection: true,
  'keep-alive': true,
  'proxy-authenticate': true,
  'proxy-authorization': true,
  'proxy-connection': true,
  te: true,
  trailer: true,
  'transfer-encoding': true,
  upgrade: true,
  host: true,
  'content-length': true,
};
Object.setPrototypeOf(HOP_BY_HOP, null);

// `Connection: keep-alive` and `Connection: close` name no other header: the common values skip
// the parse.
const PLAIN_CONNECTION = /^\s*(?:keep-alive|close)\s*$/i;

/**
 * The headers of `headers` a proxy forwards, with lower-case names and no empty values.
 *
 * @param keepLength - keep `content-length` (a body streamed through unchanged).
 */
export function forwardable(
  headers: HeaderMap,
  keepLength = false,
): Record<string, string | string[]> {
  const connection = headers.connection;
  let named: Set<string> | undefined;
  // `Connection: x-foo` makes x-foo hop-by-hop too.
  if (
    connection !== undefined &&
    !(typeof connection === 'string' && PLAIN_CONNECTION.test(connection))
  ) {
    named = new Set();
    for (const value of typeof connection === 'string' ? [connection] : connection) {
      for (const part of value.split(',')) named.add(part.trim().toLowerCase());
    }
  }
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    // Node and undici hand over lower-case names already; a header map built in code may not.
    const lower = name.toLowerCase();
    if (lower in HOP_BY_HOP && !(keepLength && lower === 'content-length')) continue;
    if (named?.has(lower) === true) continue;
    out[lower] = value;
  }
  if (keepLength && 'transfer-encoding' in headers) delete out['content-length'];
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
