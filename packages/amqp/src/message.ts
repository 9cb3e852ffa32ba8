/**
 * The message the source hands to the sink: the decoded body, the raw
 * delivery and the three ways to settle it, each of which goes back to the
 * source (which alone knows the channel and the contiguity of its tags).
 */
import type { ConsumeMessage } from 'amqplib';
import { describe } from 'batchflight/kit';
import type { AmqpMessage, AmqpNackEvent, AmqpRequeueCallOptions } from './types.js';

/** One channel's life: a message settled after it ended is stale (the broker redelivers it). */
export interface SessionRef {
  alive: boolean;
}

/** What a message needs from its source to settle. */
export interface Settler<T> {
  ack(message: AmqpMessageImpl<T>): void;
  nack(
    message: AmqpMessageImpl<T>,
    requeue: boolean,
    reason: AmqpNackEvent['reason'],
    delayMs: number,
  ): void;
}

/**
 * The delivery attempt: `x-delivery-count` (quorum and stream queues count
 * the deliveries before this one) + 1, else 2 for a redelivery, else 1.
 */
export function deliveryAttempt(raw: ConsumeMessage): number {
  const headers = raw.properties.headers as Record<string, unknown> | undefined;
  const count = headers?.['x-delivery-count'];
  if (typeof count === 'number' && Number.isInteger(count) && count >= 0) return count + 1;
  return raw.fields.redelivered ? 2 : 1;
}

/** The implementation behind {@link AmqpMessage}. */
export class AmqpMessageImpl<T> implements AmqpMessage<T> {
  /** Acked or nacked (or a nack is held): a second settlement is ignored. */
  settled = false;
  readonly attempt: number;

  constructor(
    readonly settler: Settler<T>,
    readonly session: SessionRef,
    readonly raw: ConsumeMessage,
    readonly body: T,
  ) {
    this.attempt = deliveryAttempt(raw);
  }

  get redelivered(): boolean {
    return this.raw.fields.redelivered;
  }

  get deliveryTag(): number {
    return this.raw.fields.deliveryTag;
  }

  ack(): void {
    this.settler.ack(this);
  }

  requeue(options?: AmqpRequeueCallOptions): void {
    const delayMs = options?.delayMs ?? 0;
    if (typeof delayMs !== 'number' || !(delayMs >= 0)) {
      throw new TypeError(
        `AmqpMessage.requeue(): option delayMs must be a number of milliseconds >= 0, got ${describe(delayMs)}.`,
      );
    }
    this.settler.nack(this, true, 'manual', delayMs);
  }

  deadLetter(): void {
    this.settler.nack(this, false, 'manual', 0);
  }
}
