/**
 * @packageDocumentation
 * `@batchflight/amqp`: a RabbitMQ source for `batchflight/stream`'s sink
 * (amqplib). It consumes a queue with prefetch matched to the sink's
 * buffer, acks with `multiple` acks only after the writes committed (the
 * highest contiguous run of delivery tags), requeues after a backoff on a
 * retryable failure, nacks poison to the queue's dead-letter exchange, and
 * errors or reconnects when the connection is lost.
 */
export { amqpSource } from './source.js';
export { amqpChannels } from './channels.js';
export { AmqpSourceError, type AmqpSourceErrorReason } from './errors.js';
export type {
  AmqpSource,
  AmqpSourceOptions,
  AmqpConnectionOption,
  AmqpReconnectOptions,
  AmqpRequeueOptions,
  AmqpRequeueCallOptions,
  AmqpDeadLetter,
  AmqpMessage,
  AmqpSinkOptions,
  AmqpCloseReport,
  AmqpSourceStats,
  AmqpAckEvent,
  AmqpNackEvent,
  AmqpConnectionEvent,
  AmqpClosedEvent,
  BackoffOption,
} from './types.js';
