/**
 * The public types of `amqpSource()`: its options, the message it hands to
 * the sink, its counters, the events it publishes and the
 * {@link AmqpSource} it returns.
 */
import type { ChannelModel, Channel, ConsumeMessage } from 'amqplib';
import type { Backoff, Clock, GracefulCloseOptions } from 'batchflight';
import type { StreamOptions, StreamSink } from 'batchflight/stream';

/** What a backoff may be given as: a `Backoff`, `(attempt, previousDelayMs) => ms`, or a constant number of ms. */
export type BackoffOption =
  Backoff | ((attempt: number, previousDelayMs: number) => number) | number;

/**
 * Where the source gets its connection:
 * - a URL (`amqp://guest:guest@127.0.0.1:5672`): the source connects, and closes the connection;
 * - a function returning a connection (`() => amqp.connect(url, socketOptions)`): called on
 *   every (re)connect; the source closes what it returns;
 * - a connection of yours: the source opens its own channel on it and closes only that
 *   channel; a lost connection cannot be reconnected by the source.
 */
export type AmqpConnectionOption = string | (() => Promise<ChannelModel>) | ChannelModel;

/** Options of `reconnect` in {@link AmqpSourceOptions}. */
export interface AmqpReconnectOptions {
  /** Wait before each attempt to connect again. Default: exponential with full jitter from 100 ms to 5 s. */
  readonly backoff?: BackoffOption;
  /**
   * Attempts in a row that may fail before the source gives up and errors
   * (>= 1, or `Infinity` to wait out any outage). Default 10.
   */
  readonly maxAttempts?: number;
}

/** Options of `requeue` in {@link AmqpSourceOptions}: a message whose write failed with a retryable error. */
export interface AmqpRequeueOptions {
  /**
   * How long the message is held (unacknowledged) before it is nacked with
   * `requeue: true`, by its delivery attempt. Default: exponential with full
   * jitter from 1 s to 30 s.
   */
  readonly backoff?: BackoffOption;
  /**
   * Delivery attempts after which a message that still fails is dead-lettered
   * instead (>= 1, or `Infinity`). The attempt is `x-delivery-count` + 1 on a
   * quorum queue; a classic queue only says whether the message was
   * redelivered (attempt 1 or 2). Default 10.
   */
  readonly maxAttempts?: number;
}

/** Options of `amqpSource()`. */
export interface AmqpSourceOptions<T> {
  /** The broker: a URL, a function that connects, or a connection of yours. */
  readonly connection: AmqpConnectionOption;
  /** The queue to consume. It must exist (declare it in `setup`, or beforehand). */
  readonly queue: string;
  /**
   * Turns a delivery into the item the sink writes. A throw makes the
   * message poison at once: it is nacked without requeue (to the queue's
   * dead-letter exchange) and never reaches the sink. Default: the raw
   * content `Buffer`.
   */
  readonly decode?: (message: ConsumeMessage) => T;
  /**
   * Deliveries the broker may push before any is acknowledged (`basic.qos`,
   * 1 to 65,535). `source.sink()` makes it the sink's `maxBuffered`, so the
   * broker never pushes more than the sink may buffer. Default 10,000 (the
   * sink's default `maxBuffered`).
   */
  readonly prefetch?: number;
  /** Name used in errors, events, stats and as the connection name. Default `'amqp'`. */
  readonly name?: string;
  /**
   * Runs on each new channel before the consumer starts: declare the queue,
   * its dead-letter exchange, bindings. Default: none.
   */
  readonly setup?: (channel: Channel) => Promise<unknown>;
  /**
   * What a lost connection or channel does. `false` (default): the source
   * errors (the consuming `sink.consume()` rejects with an `AmqpSourceError`).
   * `true` or options: it connects again with a backoff; what was delivered
   * on the lost channel is redelivered by the broker, so `writeMany` must be
   * idempotent. Not available with a connection of yours.
   */
  readonly reconnect?: boolean | AmqpReconnectOptions;
  /** How a message whose write failed with a retryable error is requeued. */
  readonly requeue?: AmqpRequeueOptions;
  /** Called for a message given up at the source (`decode` threw), before it is nacked. */
  readonly onDeadLetter?: (dead: AmqpDeadLetter) => void;
  /** Time for the requeue and reconnect delays and the close deadline. Default: the system clock. */
  readonly clock?: Clock;
}

/** What the source's `onDeadLetter` receives. */
export interface AmqpDeadLetter {
  /** The delivery as amqplib gave it. */
  readonly message: ConsumeMessage;
  /** Why it was given up. */
  readonly error: unknown;
}

/** Options of {@link AmqpMessage.requeue}. */
export interface AmqpRequeueCallOptions {
  /** Hold the message this long before the nack, in milliseconds. Default 0. */
  readonly delayMs?: number;
}

/**
 * One delivery, as the source hands it to the sink. Settle it once: the
 * sink acks it after its write committed (through `source.sink()`), or call
 * the methods yourself; a second settlement is ignored.
 */
export interface AmqpMessage<T> {
  /** What `decode` made of the delivery. */
  readonly body: T;
  /** The delivery as amqplib gave it (properties, headers, content). */
  readonly raw: ConsumeMessage;
  /** The broker delivered it before (to this consumer or another one that did not ack it). */
  readonly redelivered: boolean;
  /** 1 + `x-delivery-count` on a quorum queue; 1 or 2 (redelivered) on a classic one. */
  readonly attempt: number;
  /** Acknowledges it (the source sends one `multiple` ack per contiguous run). */
  ack(): void;
  /** Nacks it with `requeue: true`, after `delayMs`. */
  requeue(options?: AmqpRequeueCallOptions): void;
  /** Nacks it without requeue: the queue's dead-letter exchange gets it, else the broker drops it. */
  deadLetter(): void;
}

/** Options of {@link AmqpSource.sink}: the sink's own, with `maxBuffered` owned by the source's `prefetch`. */
export type AmqpSinkOptions<T> = StreamOptions<AmqpMessage<T>>;

/** What {@link AmqpSource.close} resolves to. */
export interface AmqpCloseReport {
  /** The close turned forced (signal or `timeoutMs`). */
  readonly forced: boolean;
  /**
   * Deliveries that were neither acked nor nacked when the channel closed:
   * the broker requeues them and delivers them again.
   */
  readonly unsettled: number;
}

/** Counters of an {@link AmqpSource}. */
export interface AmqpSourceStats {
  /** Deliveries received. */
  delivered: number;
  /** Of those, deliveries the broker marked as redelivered. */
  redelivered: number;
  /** Messages acknowledged (sent to the broker). */
  acked: number;
  /** `basic.ack` frames sent (each covers a contiguous run of messages). */
  ackFrames: number;
  /** Messages nacked with requeue (a retryable failure, or left unread at close). */
  requeued: number;
  /** Messages nacked without requeue (poison: to the dead-letter exchange). */
  deadLettered: number;
  /** Of those, messages `decode` threw on. */
  decodeErrors: number;
  /** Delivered and not yet read by the sink. */
  waiting: number;
  /** Delivered on the current channel and not yet settled (<= prefetch). */
  unsettled: number;
  /** Settled but not yet acked: a lower delivery tag is still unsettled. */
  ackBlocked: number;
  /** Held before their requeue. */
  held: number;
  /**
   * Settlements that came after their channel was lost (nothing is sent:
   * the broker redelivers those messages).
   */
  stale: number;
  /** Connections or channels lost. */
  lost: number;
  /** Successful reconnects. */
  reconnects: number;
  /** A channel is open and consuming. */
  connected: boolean;
  /** The channel's prefetch. */
  prefetch: number;
}

/** Payload of the `batchflight:amqp:ack` channel: one `multiple` ack sent. */
export interface AmqpAckEvent {
  /** The source's `name`. */
  readonly name: string;
  /** The delivery tag acked with `multiple: true`. */
  readonly deliveryTag: number;
  /** Messages it acknowledged. */
  readonly messages: number;
}

/** Payload of the `batchflight:amqp:nack` channel: one message nacked. */
export interface AmqpNackEvent {
  /** The source's `name`. */
  readonly name: string;
  /** `'requeue'` (back to the queue) or `'dead-letter'` (to the dead-letter exchange). */
  readonly outcome: 'requeue' | 'dead-letter';
  /** Why: the sink gave it up, `decode` threw, it was unread at close, or it was settled by hand. */
  readonly reason: 'write' | 'decode' | 'close' | 'manual';
  /** Its delivery attempt (see {@link AmqpMessage.attempt}). */
  readonly attempt: number;
  /** How long it was held before a requeue, in milliseconds (0 for a dead letter). */
  readonly delayMs: number;
}

/** Payload of the `batchflight:amqp:connection` channel. */
export interface AmqpConnectionEvent {
  /** The source's `name`. */
  readonly name: string;
  /** `'lost'`: the channel or connection closed; `'reconnected'`; `'failed'`: the source errors. */
  readonly event: 'lost' | 'reconnected' | 'failed';
  /** Reconnect attempts in a row so far (0 for `'lost'`). */
  readonly attempt: number;
  /** What closed it, or why the source gave up. */
  readonly error: unknown;
}

/** Payload of the `batchflight:amqp:closed` channel. */
export interface AmqpClosedEvent {
  /** The source's `name`. */
  readonly name: string;
  /** The close turned forced. */
  readonly forced: boolean;
  /** Deliveries left to the broker to redeliver. */
  readonly unsettled: number;
}

/**
 * The object `amqpSource()` returns: an async iterable of
 * {@link AmqpMessage} for `sink.consume()`, which consumes the queue on
 * one channel of its own.
 */
export interface AmqpSource<T> extends AsyncIterable<AmqpMessage<T>>, AsyncDisposable {
  readonly name: string;
  /** The channel's prefetch: the sink's `maxBuffered`. */
  readonly prefetch: number;
  /**
   * A `stream()` sink wired to this source: `maxBuffered` is the prefetch
   * (giving another value is an error), `ack` acks the message (then calls
   * yours), and `onDeadLetter` requeues a message whose last error
   * `isRetryable` accepts, after the `requeue` backoff, else nacks it to the
   * dead-letter exchange (then calls yours). `name` defaults to the source's.
   */
  sink(options: AmqpSinkOptions<T>): StreamSink<AmqpMessage<T>>;
  stats(): AmqpSourceStats;
  /**
   * Cancels the consumer, requeues what the sink has not read, waits until
   * every message the sink took is settled (written and acked, or nacked),
   * sends the last ack and closes the channel (and the connection it opened).
   * Forced when `signal` aborts or `timeoutMs` passes: the channel closes at
   * once and the broker redelivers what was not acked. Idempotent.
   */
  close(options?: GracefulCloseOptions): Promise<AmqpCloseReport>;
}
