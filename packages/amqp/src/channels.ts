/**
 * The diagnostics channels of every AMQP source (`batchflight:amqp:<event>`),
 * published only when someone subscribes.
 */
import { eventChannel } from 'batchflight';
import type { AmqpAckEvent, AmqpClosedEvent, AmqpConnectionEvent, AmqpNackEvent } from './types.js';

/**
 * The diagnostics channels of every AMQP source: `ack` (a `multiple` ack
 * sent), `nack` (a message requeued or dead-lettered), `connection` (lost,
 * reconnected, failed) and `closed` (a close finished).
 *
 * @example
 * ```ts
 * import diagnosticsChannel from 'node:diagnostics_channel';
 * diagnosticsChannel.subscribe(amqpChannels.connection.name, (event) => console.warn(event));
 * ```
 */
export const amqpChannels = {
  ack: eventChannel<AmqpAckEvent>('amqp', 'ack'),
  nack: eventChannel<AmqpNackEvent>('amqp', 'nack'),
  connection: eventChannel<AmqpConnectionEvent>('amqp', 'connection'),
  closed: eventChannel<AmqpClosedEvent>('amqp', 'closed'),
};
