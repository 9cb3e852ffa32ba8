/**
 * Retry raises no error of its own: when it gives up, the last error of the
 * last attempt is rethrown unchanged (the same object), so callers match on
 * the upstream's error exactly as they would without retry. This module
 * holds the helpers that read what an error says about retrying.
 */

/** The error shapes whose `Retry-After` hint {@link retryAfterFromError} understands. */
interface HeadersLike {
  get(name: string): string | null | undefined;
}

function headerValue(headers: unknown): unknown {
  if (typeof headers !== 'object' || headers === null) return undefined;
  if (typeof (headers as Partial<HeadersLike>).get === 'function') {
    return (headers as HeadersLike).get('retry-after') ?? undefined;
  }
  const record = headers as Record<string, unknown>;
  return record['retry-after'] ?? record['Retry-After'];
}

/**
 * Parses a `Retry-After` value: delay-seconds (`"120"`, `1.5`) or an HTTP
 * date (`"Wed, 21 Oct 2015 07:28:00 GMT"`). Returns milliseconds from `nowMs`
 * (never negative), or undefined when the value is absent or malformed.
 */
export function parseRetryAfter(value: unknown, nowMs: number): number | undefined {
  if (Array.isArray(value)) value = value[0];
  if (typeof value === 'number')
    return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/**
 * How long an error asks the caller to wait before trying again, in
 * milliseconds, or undefined when it does not say. Looked up in order:
 * `error.retryAfterMs` (a number, as batchflight's own `CircuitOpenError` and
 * `RateLimitedError` carry), `error.headers` (a `Headers` or a plain object
 * with `retry-after`), `error.response.headers` (fetch/axios-style errors).
 *
 * @example
 * ```ts
 * retryAfterFromError({ headers: { 'retry-after': '2' } }, Date.now()); // 2000
 * ```
 */
export function retryAfterFromError(error: unknown, nowMs: number): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const direct = (error as { retryAfterMs?: unknown }).retryAfterMs;
  if (typeof direct === 'number' && Number.isFinite(direct) && direct >= 0) return direct;
  const fromHeaders = parseRetryAfter(headerValue((error as { headers?: unknown }).headers), nowMs);
  if (fromHeaders !== undefined) return fromHeaders;
  const response = (error as { response?: unknown }).response;
  if (typeof response === 'object' && response !== null) {
    return parseRetryAfter(headerValue((response as { headers?: unknown }).headers), nowMs);
  }
  return undefined;
}

/** True for the errors an abort produces (`AbortError` DOMExceptions and look-alikes). */
export function isAbortError(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { name?: unknown }).name === 'AbortError'
  );
}
