/**
 * @packageDocumentation
 * `@batchflight/nats`: a NATS JetStream pull-consumer source for
 * `batchflight/stream`'s sink (the `nats` client). It pulls in batches sized
 * by the sink's free room, acks only after the write committed, nacks with
 * a delay on a retryable failure, terminates poison, and leaves what a
 * crashed consumer held to JetStream's redelivery after `ack_wait`.
 */
export { natsSource } from './source.js';
export { natsChannels } from './channels.js';
export { NatsSourceError } from './errors.js';
export type {
  NatsSource,
  NatsSourceOptions,
  NatsBackoffOption,
  NatsDeadLetter,
  NatsNakOptions,
  NatsMessage,
  NatsSinkOptions,
  NatsCloseReport,
  NatsSourceStats,
  NatsFetchEvent,
  NatsSettleEvent,
  NatsClosedEvent,
} from './types.js';
