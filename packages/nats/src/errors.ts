/**
 * Errors of `@batchflight/nats`. Each has a stable `code` and an explicit
 * `name`; `NatsSourceError.is(value)` recognises one across two installed copies.
 */
import { BatchflightError, type BatchflightErrorOptions } from 'batchflight';

/**
 * The source cannot go on pulling: `maxFetchFailures` pulls in a row failed
 * (the server is gone, the consumer or its stream was deleted), or the
 * connection was closed by its owner (`failures` is then 1). The
 * iterator the sink reads rejects with it (so `sink.consume()` rejects);
 * the last pull's error is `cause`. What the sink had already taken is
 * still written and acked while the connection lives; what was not acked
 * JetStream delivers again after the consumer's `ack_wait`.
 */
export class NatsSourceError extends BatchflightError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_NATS_SOURCE';
  override name = 'NatsSourceError';
  /** Pulls that failed in a row. */
  readonly failures: number;

  constructor(message: string, failures: number, options?: BatchflightErrorOptions) {
    super(message, options);
    this.failures = failures;
  }
}
