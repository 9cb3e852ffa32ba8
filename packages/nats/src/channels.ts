/**
 * The diagnostics channels of every NATS source (`batchflight:nats:<event>`),
 * published only when someone subscribes.
 */
import { eventChannel } from 'batchflight';
import type { NatsClosedEvent, NatsFetchEvent, NatsSettleEvent } from './types.js';

/**
 * The diagnostics channels of every NATS source: `fetch` (a pull finished,
 * with what it asked for and got), `settle` (a message nacked or
 * terminated) and `closed` (a close finished).
 *
 * @example
 * ```ts
 * import diagnosticsChannel from 'node:diagnostics_channel';
 * diagnosticsChannel.subscribe(natsChannels.settle.name, (event) => console.warn(event));
 * ```
 */
export const natsChannels = {
  fetch: eventChannel<NatsFetchEvent>('nats', 'fetch'),
  settle: eventChannel<NatsSettleEvent>('nats', 'settle'),
  closed: eventChannel<NatsClosedEvent>('nats', 'closed'),
};
