/**
 * The public types of `natsSource()`: its options, the message it hands to
 * the sink, its counters, the events it publishes and the
 * {@link NatsSource} it returns.
 */
import type { Consumer, JsMsg } from 'nats';
import type { Backoff, Clock, GracefulCloseOptions } from 'batchflight';
import type { StreamOptions, StreamSink } from 'batchflight/stream';

/** What a backoff may be given as: a `Backoff`, `(attempt, previousDelayMs) => ms`, or a constant number of ms. */
export type NatsBackoffOption =
  Backoff | ((attempt: number, previousDelayMs: number) => number) | number;

/** Options of `natsSource()`. */
export interface NatsSourceOptions<T> {
  /**
   * The JetStream pull consumer to read (`await js.consumers.get(stream,
   * durable)`). Its `ack_policy` must be explicit; its `ack_wait` is how long
   * a message a crashed consumer held stays invisible before JetStream
   * delivers it again, and its `max_ack_pending` must be at least the sink's
   * `maxBuffered` (else the server stops delivering before the sink is full).
   */
  readonly consumer: Consumer;
  /**
   * Turns a message into the item the sink writes. A throw makes the message
   * poison at once: it is terminated (`term`, never delivered again) and
   * never reaches the sink. Default: the raw payload `Uint8Array`.
   */
  readonly decode?: (message: JsMsg) => T;
  /**
   * Messages asked for in one pull at most (1 to 10,000). A pull asks for the
   * sink's free room (`maxBuffered` minus what it buffers) up to this.
   * Default 1,000.
   */
  readonly maxFetch?: number;
  /**
   * How long one pull stays open on the server waiting for messages, in
   * milliseconds (>= 1,000, JetStream's minimum). Messages are handed to the
   * sink as they arrive, not at the end of the pull. Default 5,000.
   */
  readonly fetchExpiresMs?: number;
  /** Name used in errors, events and stats. Default `'nats'`. */
  readonly name?: string;
  /**
   * How long JetStream waits before it delivers again a message whose write
   * failed with a retryable error (`nak(delay)`), by its delivery count.
   * Default: exponential with full jitter from 1 s to 30 s.
   */
  readonly nakBackoff?: NatsBackoffOption;
  /**
   * Deliveries after which a message whose write still fails with a
   * retryable error is terminated instead (>= 1, or `Infinity`; the
   * consumer's own `max_deliver` also applies). Default `Infinity`.
   */
  readonly maxDeliveries?: number;
  /**
   * Pulls that may fail in a row (the connection is down, the server
   * restarts) before the source gives up and the consuming iterator
   * rejects; between them it waits `fetchBackoff`. Default 10.
   */
  readonly maxFetchFailures?: number;
  /** Wait before a pull after a failed one. Default: exponential with full jitter from 100 ms to 5 s. */
  readonly fetchBackoff?: NatsBackoffOption;
  /** Called for a message given up at the source (`decode` threw), before it is terminated. */
  readonly onDeadLetter?: (dead: NatsDeadLetter) => void;
  /** Time for the waits between failed pulls and the close deadline. Default: the system clock. */
  readonly clock?: Clock;
}

/** What the source's `onDeadLetter` receives. */
export interface NatsDeadLetter {
  /** The message as the `nats` client gave it. */
  readonly message: JsMsg;
  /** Why it was given up. */
  readonly error: unknown;
}

/** Options of {@link NatsMessage.nak}. */
export interface NatsNakOptions {
  /** JetStream delivers the message again after this long, in milliseconds. Default 0. */
  readonly delayMs?: number;
}

/**
 * One JetStream message as the source hands it to the sink. Settle it once:
 * the sink acks it after its write committed (through `source.sink()`), or
 * call the methods yourself; a second settlement is ignored.
 */
export interface NatsMessage<T> {
  /** What `decode` made of the message. */
  readonly body: T;
  /** The message as the `nats` client gave it (subject, headers, data, info). */
  readonly raw: JsMsg;
  /** Its sequence in the stream: the same on every delivery (a natural idempotency key). */
  readonly seq: number;
  /** Deliveries of it so far, this one included (1 the first time). */
  readonly deliveries: number;
  /** Acknowledges it: JetStream will not deliver it again. */
  ack(): void;
  /** Negative acknowledgement: JetStream delivers it again after `delayMs`. */
  nak(options?: NatsNakOptions): void;
  /** Terminates it: JetStream never delivers it again (poison). */
  term(reason?: string): void;
}

/** Options of {@link NatsSource.sink}: the sink's own; `ack` and `onDeadLetter` run after the source's. */
export type NatsSinkOptions<T> = StreamOptions<NatsMessage<T>>;

/** What {@link NatsSource.close} resolves to. */
export interface NatsCloseReport {
  /** The close turned forced (signal or `timeoutMs`). */
  readonly forced: boolean;
  /**
   * Messages the sink took and that were neither acked nor nacked when the
   * close ended (forced): they are nacked, so JetStream delivers them again.
   */
  readonly unsettled: number;
}

/** Counters of a {@link NatsSource}. */
export interface NatsSourceStats {
  /** Pulls sent to the server. */
  fetches: number;
  /** Pulls that failed (the source waited and pulled again). */
  fetchFailures: number;
  /** Messages received. */
  received: number;
  /** Of those, messages JetStream delivered before (a consumer died holding them, or a nak). */
  redelivered: number;
  /** Messages acknowledged. */
  acked: number;
  /** Messages nacked (a retryable failure, or unread at close). */
  nacked: number;
  /** Messages terminated (poison: decode threw, the write failed for good). */
  terminated: number;
  /** Of the terminated, messages `decode` threw on. */
  decodeErrors: number;
  /** Received and not yet read by the sink. */
  waiting: number;
  /** Read by the sink and not yet settled. */
  unsettled: number;
  /** Messages the pull in progress asked for (0 when none is open). */
  requested: number;
}

/** Payload of the `batchflight:nats:fetch` channel: one pull finished. */
export interface NatsFetchEvent {
  /** The source's `name`. */
  readonly name: string;
  /** Messages asked for (the sink's free room, up to `maxFetch`). */
  readonly requested: number;
  /** Messages received. */
  readonly received: number;
  /** How long the pull was open, in milliseconds. */
  readonly durationMs: number;
  /** The error that ended it, if it failed. */
  readonly error: unknown;
}

/** Payload of the `batchflight:nats:settle` channel: one message nacked or terminated (acks are not published: one per message). */
export interface NatsSettleEvent {
  /** The source's `name`. */
  readonly name: string;
  /** `'nak'` (delivered again after `delayMs`) or `'term'` (never again). */
  readonly outcome: 'nak' | 'term';
  /** Why: the sink gave it up, `decode` threw, it was unread at close, or it was settled by hand. */
  readonly reason: 'write' | 'decode' | 'close' | 'manual';
  /** Its stream sequence. */
  readonly seq: number;
  /** Its deliveries so far. */
  readonly deliveries: number;
  /** The nak's delay, in milliseconds (0 for a term). */
  readonly delayMs: number;
}

/** Payload of the `batchflight:nats:closed` channel. */
export interface NatsClosedEvent {
  /** The source's `name`. */
  readonly name: string;
  /** The close turned forced. */
  readonly forced: boolean;
  /** Messages nacked because they were unsettled when the close was forced. */
  readonly unsettled: number;
}

/**
 * The object `natsSource()` returns: an async iterable of
 * {@link NatsMessage} for `sink.consume()`, pulling from one JetStream
 * consumer in batches sized by the sink's free room.
 */
export interface NatsSource<T> extends AsyncIterable<NatsMessage<T>>, AsyncDisposable {
  readonly name: string;
  /**
   * A `stream()` sink wired to this source: its free room sizes each pull,
   * `ack` acks the message (then calls yours), and `onDeadLetter` nacks
   * with the `nakBackoff` delay a message whose last error `isRetryable`
   * accepts (until `maxDeliveries`), else terminates it (then calls yours).
   * `name` defaults to the source's. One sink per source.
   */
  sink(options: NatsSinkOptions<T>): StreamSink<NatsMessage<T>>;
  stats(): NatsSourceStats;
  /**
   * Stops pulling, nacks what the sink has not read (JetStream delivers it
   * again at once, to this consumer's next reader), and waits until every
   * message the sink took is settled (written and acked, or nacked). Close
   * the sink after it, or at the same time. Forced when `signal` aborts or
   * `timeoutMs` passes: the unsettled messages are nacked. Idempotent. The
   * connection is yours: drain it after (`nc.drain()` flushes the acks).
   */
  close(options?: GracefulCloseOptions): Promise<NatsCloseReport>;
}
