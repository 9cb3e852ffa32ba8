/**
 * Errors of `@batchflight/amqp`. Each has a stable `code` and an explicit
 * `name`; `AmqpSourceError.is(value)` recognises one across two installed copies.
 */
import { BatchflightError, type BatchflightErrorOptions } from 'batchflight';

/** Why an {@link AmqpSourceError} was raised. */
export type AmqpSourceErrorReason =
  /** Connecting, opening the channel, `setup` or starting the consumer failed. */
  | 'connect-failed'
  /** The connection or channel closed under the source, and it does not reconnect. */
  | 'connection-lost'
  /** Reconnecting failed `reconnect.maxAttempts` times in a row. */
  | 'reconnect-exhausted'
  /** The broker cancelled the consumer (the queue was deleted, or a quorum queue lost its leader). */
  | 'consumer-cancelled';

/**
 * The source cannot go on consuming: the iterator the sink reads rejects
 * with it (so `sink.consume()` rejects), and so does every later read.
 * What the sink had already taken is still written; its acks are not sent
 * (the channel is gone), so the broker redelivers those messages.
 */
export class AmqpSourceError extends BatchflightError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_AMQP_SOURCE';
  override name = 'AmqpSourceError';
  /** Why the source stopped. */
  readonly reason: AmqpSourceErrorReason;

  constructor(message: string, reason: AmqpSourceErrorReason, options?: BatchflightErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}
