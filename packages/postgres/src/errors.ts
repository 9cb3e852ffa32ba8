/**
 * Errors of the PostgreSQL store. `PostgresTimeoutError` extends the core's
 * `TimeoutError` (`instanceof` holds); recognise it with
 * `PostgresTimeoutError.is(e)` or its `code`.
 */
import { TimeoutError } from 'batchflight/core';

/** What ran out of time: opening a connection, one statement, or `close()`. */
export type PostgresTimeoutOperation = 'connect' | 'query' | 'close';

/**
 * The server did not answer within the store's bound: `connectTimeoutMs`
 * (opening a connection), `queryTimeoutMs` (one statement) or
 * `closeTimeoutMs` (`close()`). The driver's error is `cause`. A statement
 * that timed out may still have committed on the server; the job contract
 * (fencing epochs, idempotency keys) makes a retry safe.
 */
export class PostgresTimeoutError extends TimeoutError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_PG_TIMEOUT';
  override name = 'PostgresTimeoutError';
  /** What ran out of time. */
  readonly operation: PostgresTimeoutOperation;

  constructor(
    operation: PostgresTimeoutOperation,
    timeoutMs: number,
    message: string,
    options?: { readonly cause?: unknown },
  ) {
    super(message, timeoutMs, options);
    this.operation = operation;
  }
}
