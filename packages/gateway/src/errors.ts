/**
 * The gateway's errors and how every failure of a policy becomes an HTTP answer: a timeout is a
 * 504, an open circuit or a full bulkhead a 503 with `Retry-After`, a rate limit a 429 with
 * `Retry-After`, an unreachable or broken upstream a 502 with the reason.
 */
import { BatchflightError, ClosedError, TimeoutError } from 'batchflight/core';
import { CircuitOpenError } from 'batchflight/circuit-breaker';
import { RateLimitedError } from 'batchflight/rate-limit';
import { BulkheadFullError } from 'batchflight/bulkhead';
import { BatchContractError } from 'batchflight/batch';
import { jsonResponse, type GatewayResponse } from './http.js';

/** A failure the gateway answers with a status of its own and a reason in a JSON body. */
export class GatewayError extends BatchflightError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_GATEWAY';
  override name = 'GatewayError';
  /** The HTTP status the caller receives. */
  readonly status: number;
  /** A short machine-readable reason, e.g. `bulk-not-json`. */
  readonly reason: string;
  /** Extra answer headers, e.g. `retry-after`. */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    status: number,
    reason: string,
    message: string,
    options?: { cause?: unknown; headers?: Record<string, string> },
  ) {
    super(message, options);
    this.status = status;
    this.reason = reason;
    this.headers = options?.headers ?? {};
  }
}

/**
 * An upstream answer that counts as a failure for the breaker and the retry (5xx, 429). It
 * carries the answer itself: when no policy recovers, the caller receives it unchanged.
 * `headers` is where `retryAfterFromError` finds the upstream's `Retry-After`.
 */
export class UpstreamStatusError extends BatchflightError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_GATEWAY_UPSTREAM_STATUS';
  override name = 'UpstreamStatusError';
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[]>>;

  constructor(readonly response: GatewayResponse) {
    super(`the upstream answered ${String(response.status)}`);
    this.status = response.status;
    this.headers = response.headers;
  }
}

/** True for an upstream status the protection policies treat as a failure. */
export function isFailureStatus(status: number): boolean {
  return status >= 500 || status === 429;
}

const seconds = (ms: number): string => String(Math.max(1, Math.ceil(ms / 1000)));

/** The HTTP answer of an error that reached the top of a route's stack. */
export function errorResponse(error: unknown, bulkheadRetryAfterSeconds = 1): GatewayResponse {
  if (UpstreamStatusError.is(error)) return error.response;
  if (GatewayError.is(error)) {
    return jsonResponse(
      error.status,
      { error: { reason: error.reason, message: error.message } },
      error.headers,
    );
  }
  if (RateLimitedError.is(error)) {
    return jsonResponse(
      429,
      { error: { reason: 'rate-limited', message: error.message } },
      { 'retry-after': seconds(error.retryAfterMs) },
    );
  }
  if (CircuitOpenError.is(error)) {
    return jsonResponse(
      503,
      { error: { reason: 'circuit-open', message: error.message } },
      { 'retry-after': seconds(error.retryAfterMs) },
    );
  }
  if (BulkheadFullError.is(error)) {
    return jsonResponse(
      503,
      { error: { reason: 'bulkhead-full', message: error.message } },
      { 'retry-after': String(bulkheadRetryAfterSeconds) },
    );
  }
  if (TimeoutError.is(error)) {
    return jsonResponse(504, { error: { reason: 'upstream-timeout', message: error.message } });
  }
  if (BatchContractError.is(error)) {
    return jsonResponse(502, { error: { reason: 'bulk-contract', message: error.message } });
  }
  if (ClosedError.is(error)) {
    return jsonResponse(503, { error: { reason: 'closing', message: 'the gateway is closing' } });
  }
  const message = error instanceof Error ? error.message : String(error);
  return jsonResponse(502, { error: { reason: 'upstream-unreachable', message } });
}
