/**
 * The RabbitMQ source of `stream()`. One channel, one consumer, prefetch =
 * the sink's `maxBuffered`: the broker pushes at most that many
 * unacknowledged deliveries, so what waits here plus what the sink holds
 * never exceeds the sink's bound. Deliveries wait in a local queue until the
 * sink reads them (it reads only when it has room).
 *
 * Acknowledgement. The sink acks a message after its write committed, in
 * any order; the source acks the broker with one `multiple` ack per tick
 * for the highest contiguous run of settled tags (`acks.ts`). A nack (a
 * requeue, a dead letter) is sent on its own at once, so no `multiple` ack
 * ever covers a message that was not written. A message held for a delayed
 * requeue stays unsettled meanwhile: the acks above it wait.
 *
 * Loss. A channel that closes under the source (connection lost, channel
 * error) takes its unacknowledged deliveries with it: the broker requeues
 * them and delivers them again, flagged `redelivered`. The source drops what
 * the sink has not read, settles nothing more on that channel (a tag means
 * nothing on another channel), and then reconnects or errors per `reconnect`.
 */
import type { ConsumeMessage } from 'amqplib';
import {
  InvalidOptionError,
  rejectWith,
  sleep,
  type GracefulCloseOptions,
  type Timer,
} from 'batchflight';
import { describe, forceCloseWhen, functionOption } from 'batchflight/kit';
import { stream, type StreamDeadLetter, type StreamSink } from 'batchflight/stream';
import { amqpChannels } from './channels.js';
import { AmqpSourceError } from './errors.js';
import { AmqpMessageImpl, type Settler } from './message.js';
import { resolveAmqpOptions, type AmqpSourceConfig } from './options.js';
import { closeSession, openSession, type Session } from './session.js';
import type {
  AmqpCloseReport,
  AmqpMessage,
  AmqpNackEvent,
  AmqpSinkOptions,
  AmqpSource,
  AmqpSourceOptions,
  AmqpSourceStats,
} from './types.js';

interface Reader<T> {
  readonly resolve: (result: IteratorResult<AmqpMessage<T>>) => void;
  readonly reject: (error: unknown) => void;
}

/** A requeue waiting for its delay. */
interface Held<T> {
  readonly message: AmqpMessageImpl<T>;
  readonly timer: Timer;
  readonly reason: AmqpNackEvent['reason'];
  readonly delayMs: number;
}

type Counters = Pick<
  AmqpSourceStats,
  | 'delivered'
  | 'redelivered'
  | 'acked'
  | 'ackFrames'
  | 'requeued'
  | 'deadLettered'
  | 'decodeErrors'
  | 'stale'
  | 'lost'
  | 'reconnects'
>;

const DONE: IteratorResult<never> = { done: true, value: undefined };

/** The implementation behind {@link AmqpSource}. */
export class AmqpSourceImpl<T> implements AmqpSource<T> {
  readonly name: string;
  readonly prefetch: number;
  readonly #config: AmqpSourceConfig<T>;
  readonly #counters: Counters = {
    delivered: 0,
    redelivered: 0,
    acked: 0,
    ackFrames: 0,
    requeued: 0,
    deadLettered: 0,
    decodeErrors: 0,
    stale: 0,
    lost: 0,
    reconnects: 0,
  };
  /** `idle` until the first read; `stopped` once the iterator returned or a close began. */
  #state: 'idle' | 'running' | 'stopped' = 'idle';
  #iterated = false;
  #session: Session | undefined;
  /** The connect in progress (first connect or reconnect loop). */
  #opening: Promise<void> = Promise.resolve();
  /** Aborts a reconnect backoff when the source stops. */
  readonly #stopping = new AbortController();
  /** Set once the source cannot go on: every read rejects with it. */
  #failure: AmqpSourceError | undefined;
  /** Delivered, not yet read: `#waiting[#head…]`. */
  #waiting: AmqpMessageImpl<T>[] = [];
  #head = 0;
  readonly #readers: Reader<T>[] = [];
  readonly #held = new Set<Held<T>>();
  readonly #settler: Settler<T>;
  #closing: Promise<AmqpCloseReport> | undefined;
  #forced = false;
  /** Wakes a close waiting for the unsettled messages (they settled, the channel died, or forced). */
  #drainWaiter: (() => void) | undefined;

  constructor(options: AmqpSourceOptions<T>) {
    const config = resolveAmqpOptions(options);
    this.#config = config;
    this.name = config.name;
    this.prefetch = config.prefetch;
    this.#settler = {
      ack: (message) => {
        this.#ack(message);
      },
      nack: (message, requeue, reason, delayMs) => {
        this.#nack(message, requeue, reason, delayMs);
      },
    };
  }

  [Symbol.asyncIterator](): AsyncIterator<AmqpMessage<T>> {
    if (this.#iterated) {
      throw new TypeError(
        `${this.#config.where}: the source is consumed already; one source feeds one sink (make another amqpSource() for a second consumer).`,
      );
    }
    this.#iterated = true;
    return {
      next: () => this.#next(),
      return: async () => {
        await this.#stop();
        return DONE;
      },
    };
  }

  sink(options: AmqpSinkOptions<T>): StreamSink<AmqpMessage<T>> {
    const where = `${this.#config.where}.sink()`;
    if (typeof options !== 'object' || (options as unknown) === null) {
      throw new TypeError(
        `${where}: expects the options of stream() { writeMany, ... }, got ${describe(options)}.`,
      );
    }
    if (options.maxBuffered !== undefined && options.maxBuffered !== this.prefetch) {
      throw new InvalidOptionError(
        'maxBuffered',
        `${where}: option maxBuffered is the source's prefetch (${String(this.prefetch)}), so that the broker never pushes more than the sink may buffer; got ${describe(options.maxBuffered)}. Set prefetch in amqpSource() instead.`,
      );
    }
    const own = <F extends (...args: never[]) => unknown>(option: string, value: F | undefined) =>
      value === undefined ? undefined : functionOption<F>(where, option, value);
    const ack = own('ack', options.ack);
    const onDeadLetter = own('onDeadLetter', options.onDeadLetter);
    const isRetryable = own('isRetryable', options.isRetryable);
    return stream<AmqpMessage<T>>({
      ...options,
      name: options.name ?? this.name,
      maxBuffered: this.prefetch,
      ack: (message) => {
        message.ack();
        ack?.(message);
      },
      onDeadLetter: (dead) => {
        this.#writeFailed(dead, isRetryable);
        onDeadLetter?.(dead);
      },
    });
  }

  stats(): AmqpSourceStats {
    const session = this.#session;
    const live = session?.alive === true ? session : undefined;
    return {
      ...this.#counters,
      waiting: this.#waiting.length - this.#head,
      unsettled: live?.unsettled ?? 0,
      ackBlocked: live?.tracker.ahead ?? 0,
      held: this.#held.size,
      connected: live !== undefined,
      prefetch: this.prefetch,
    };
  }

  close(options?: GracefulCloseOptions): Promise<AmqpCloseReport> {
    const where = `${this.#config.where}.close()`;
    let disarm: () => void;
    try {
      disarm = forceCloseWhen(where, options, this.#config.clock, () => {
        this.#forced = true;
        this.#wakeDrain();
      });
    } catch (error) {
      return rejectWith(error);
    }
    if (this.#closing !== undefined) {
      // The first close goes on; this one may only force it.
      void this.#closing.then(disarm, disarm);
      return this.#closing;
    }
    this.#closing = this.#close().then((report) => {
      disarm();
      const channel = amqpChannels.closed;
      if (channel.hasSubscribers) channel.publish({ name: this.name, ...report });
      return report;
    });
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close().then(() => undefined);
  }

  async #close(): Promise<AmqpCloseReport> {
    await this.#stop();
    // A delayed requeue goes now: the delay is not worth holding a close for.
    for (const held of [...this.#held]) {
      held.timer.cancel();
      this.#held.delete(held);
      this.#sendNack(held.message, true, held.reason, 0);
    }
    const session = this.#session;
    if (session !== undefined) {
      await new Promise<void>((resolve) => {
        this.#drainWaiter = resolve;
        this.#wakeDrain();
      });
      this.#flush(session);
    }
    const unsettled = session?.alive === true ? session.unsettled : 0;
    if (session !== undefined) {
      session.alive = false;
      await closeSession(session, this.#config.connection.kind === 'owned');
    }
    this.#session = undefined;
    return { forced: this.#forced, unsettled };
  }

  #wakeDrain(): void {
    const waiter = this.#drainWaiter;
    if (waiter === undefined) return;
    const session = this.#session;
    if (this.#forced || session === undefined || !session.alive || session.unsettled === 0) {
      this.#drainWaiter = undefined;
      waiter();
    }
  }

  #next(): Promise<IteratorResult<AmqpMessage<T>>> {
    if (this.#head < this.#waiting.length) {
      const message = this.#waiting[this.#head] as AmqpMessageImpl<T>;
      this.#waiting[this.#head++] = undefined as unknown as AmqpMessageImpl<T>;
      if (this.#head >= 1024 && this.#head * 2 >= this.#waiting.length) {
        this.#waiting = this.#waiting.slice(this.#head);
        this.#head = 0;
      }
      return Promise.resolve({ done: false, value: message });
    }
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.#state === 'stopped') return Promise.resolve(DONE);
    if (this.#state === 'idle') {
      this.#state = 'running';
      this.#opening = this.#connect();
    }
    return new Promise((resolve, reject) => this.#readers.push({ resolve, reject }));
  }

  /** Connects, and while `reconnect` allows, tries again after each failure. */
  async #connect(): Promise<void> {
    const { reconnect } = this.#config;
    let failures = 0;
    let delay = 0;
    for (;;) {
      if (this.#state !== 'running') return;
      try {
        this.#session = await openSession(this.#config, {
          deliver: (session, message) => {
            this.#deliver(session, message);
          },
          lost: (session) => {
            this.#lost(session);
          },
        });
        if (this.#counters.lost > 0) {
          this.#counters.reconnects++;
          this.#publishConnection('reconnected', failures, undefined);
        }
        return;
      } catch (error) {
        failures++;
        if (reconnect === undefined || failures >= reconnect.maxAttempts) {
          const reason =
            reconnect === undefined
              ? 'connect-failed'
              : this.#counters.lost > 0
                ? 'reconnect-exhausted'
                : 'connect-failed';
          this.#fail(
            new AmqpSourceError(
              `${this.#config.where}: could not consume queue ${JSON.stringify(this.#config.queue)}${reconnect === undefined ? '' : ` after ${String(failures)} attempts`}: ${error instanceof Error ? error.message : String(error)}.`,
              reason,
              { cause: error },
            ),
          );
          return;
        }
        delay = reconnect.backoff.delayMs(failures, delay);
        try {
          await sleep(delay, { clock: this.#config.clock, signal: this.#stopping.signal });
        } catch {
          return; // stopped during the backoff
        }
      }
    }
  }

  #deliver(session: Session, raw: ConsumeMessage | null): void {
    if (raw === null) {
      // basic.cancel from the broker: the queue is gone; consuming again would not bring it back.
      this.#fail(
        new AmqpSourceError(
          `${this.#config.where}: the broker cancelled the consumer of queue ${JSON.stringify(this.#config.queue)} (deleted, or its leader moved).`,
          'consumer-cancelled',
        ),
      );
      session.consumerTag = undefined;
      this.#lost(session);
      void closeSession(session, this.#config.connection.kind === 'owned');
      return;
    }
    if (!session.alive) return;
    const c = this.#counters;
    c.delivered++;
    if (raw.fields.redelivered) c.redelivered++;
    session.unsettled++;
    let body: T;
    try {
      body = this.#config.decode(raw);
    } catch (error) {
      c.decodeErrors++;
      const message = new AmqpMessageImpl<T>(this.#settler, session, raw, undefined as T);
      try {
        this.#config.onDeadLetter?.({ message: raw, error });
      } catch {
        // A logging callback that throws must not keep a poison message from its dead letter.
      }
      this.#nack(message, false, 'decode', 0);
      return;
    }
    const message = new AmqpMessageImpl<T>(this.#settler, session, raw, body);
    if (this.#state === 'stopped') {
      // Delivered between our basic.cancel and its answer: nobody reads it any more.
      this.#nack(message, true, 'close', 0);
      return;
    }
    const reader = this.#readers.shift();
    if (reader !== undefined) reader.resolve({ done: false, value: message });
    else this.#waiting.push(message);
  }

  #lost(session: Session): void {
    if (!session.alive) return;
    session.alive = false;
    const c = this.#counters;
    c.lost++;
    // Unread deliveries and unsent acks of that channel: the broker requeued them all.
    this.#dropWaiting(session);
    c.stale += session.tracker.drop();
    for (const held of [...this.#held]) {
      if (held.message.session !== session) continue;
      held.timer.cancel();
      this.#held.delete(held);
      c.stale++;
    }
    session.unsettled = 0;
    this.#publishConnection('lost', 0, session.error);
    if (this.#config.connection.kind === 'owned')
      void session.connection.close().catch(() => undefined);
    this.#wakeDrain();
    if (this.#state !== 'running' || this.#failure !== undefined) return;
    if (this.#config.reconnect !== undefined) {
      this.#opening = this.#connect();
      return;
    }
    const cause = session.error;
    this.#fail(
      new AmqpSourceError(
        `${this.#config.where}: the channel consuming queue ${JSON.stringify(this.#config.queue)} closed${cause instanceof Error ? ` (${cause.message})` : ''}; the broker redelivers what was not acked. Give reconnect: true to connect again instead.`,
        'connection-lost',
        { cause },
      ),
    );
  }

  #dropWaiting(session: Session): void {
    const kept: AmqpMessageImpl<T>[] = [];
    for (let i = this.#head; i < this.#waiting.length; i++) {
      const message = this.#waiting[i] as AmqpMessageImpl<T>;
      if (message.session !== session) kept.push(message);
    }
    this.#waiting = kept;
    this.#head = 0;
  }

  #fail(error: AmqpSourceError): void {
    if (this.#failure !== undefined) return;
    this.#failure = error;
    this.#publishConnection('failed', 0, error);
    for (const reader of this.#readers.splice(0)) reader.reject(error);
  }

  /** Stops consuming: readers end, the consumer is cancelled, what was not read is requeued. */
  async #stop(): Promise<void> {
    if (this.#state === 'idle') {
      this.#state = 'stopped';
      return;
    }
    if (this.#state !== 'stopped') {
      this.#state = 'stopped';
      this.#stopping.abort();
      for (const reader of this.#readers.splice(0)) reader.resolve(DONE);
    }
    await this.#opening;
    const session = this.#session;
    if (session?.alive === true && session.consumerTag !== undefined) {
      const tag = session.consumerTag;
      session.consumerTag = undefined;
      await session.channel.cancel(tag).catch(() => undefined);
    }
    for (let i = this.#head; i < this.#waiting.length; i++) {
      this.#nack(this.#waiting[i] as AmqpMessageImpl<T>, true, 'close', 0);
    }
    this.#waiting = [];
    this.#head = 0;
  }

  /** The sink gave a message up: requeue it after a backoff when its error is retryable, else dead-letter it. */
  #writeFailed(
    dead: StreamDeadLetter<AmqpMessage<T>>,
    isRetryable: ((error: unknown) => boolean) | undefined,
  ): void {
    const message = dead.item;
    if (!(message instanceof AmqpMessageImpl) || message.settler !== this.#settler) {
      message.deadLetter();
      return;
    }
    let retryable = false;
    try {
      retryable = isRetryable?.(dead.error) === true;
    } catch {
      // The sink counted the throw already (callback-error); a throwing classifier means poison.
    }
    const attempt = message.attempt;
    if (retryable && attempt < this.#config.requeueMaxAttempts) {
      const delayMs = this.#config.requeueBackoff.delayMs(attempt, 0);
      this.#nack(message as AmqpMessageImpl<T>, true, 'write', delayMs);
    } else this.#nack(message as AmqpMessageImpl<T>, false, 'write', 0);
  }

  #ack(message: AmqpMessageImpl<T>): void {
    if (message.settled) return;
    message.settled = true;
    const session = message.session as Session;
    if (!session.alive) {
      this.#counters.stale++;
      return;
    }
    session.unsettled--;
    session.tracker.settle(message.raw.fields.deliveryTag, message.raw);
    this.#scheduleFlush(session);
  }

  #nack(
    message: AmqpMessageImpl<T>,
    requeue: boolean,
    reason: AmqpNackEvent['reason'],
    delayMs: number,
  ): void {
    if (message.settled) return;
    message.settled = true;
    if (!(message.session as Session).alive) {
      this.#counters.stale++;
      return;
    }
    if (!requeue || delayMs <= 0 || this.#state === 'stopped') {
      this.#sendNack(message, requeue, reason, 0);
      return;
    }
    // Held unsettled: the tracker must not pass it, or a multiple ack above it would ack it.
    const held: Held<T> = {
      message,
      reason,
      delayMs,
      timer: this.#config.clock.setTimer(() => {
        this.#held.delete(held);
        this.#sendNack(message, true, reason, delayMs);
      }, delayMs),
    };
    this.#held.add(held);
  }

  #sendNack(
    message: AmqpMessageImpl<T>,
    requeue: boolean,
    reason: AmqpNackEvent['reason'],
    delayMs: number,
  ): void {
    const session = message.session as Session;
    const c = this.#counters;
    if (!session.alive) {
      c.stale++;
      return;
    }
    try {
      session.channel.nack(message.raw, false, requeue);
    } catch {
      // The channel closed under us; its 'close' event does the rest.
      c.stale++;
      return;
    }
    if (requeue) c.requeued++;
    else c.deadLettered++;
    session.unsettled--;
    session.tracker.settle(message.raw.fields.deliveryTag, null);
    const channel = amqpChannels.nack;
    if (channel.hasSubscribers) {
      channel.publish({
        name: this.name,
        outcome: requeue ? 'requeue' : 'dead-letter',
        reason,
        attempt: message.attempt,
        delayMs,
      });
    }
    // The frontier may have moved over acks waiting behind this tag.
    this.#scheduleFlush(session);
  }

  /** One `multiple` ack per tick: the sink acks a committed write's items in one synchronous loop. */
  #scheduleFlush(session: Session): void {
    if (session.flushScheduled) return;
    session.flushScheduled = true;
    queueMicrotask(() => {
      session.flushScheduled = false;
      this.#flush(session);
    });
  }

  #flush(session: Session): void {
    const c = this.#counters;
    const unsent = session.tracker.take();
    if (unsent !== undefined) {
      if (!session.alive) c.stale += unsent.count;
      else {
        try {
          session.channel.ack(unsent.message, true);
          c.acked += unsent.count;
          c.ackFrames++;
          const channel = amqpChannels.ack;
          if (channel.hasSubscribers) {
            channel.publish({
              name: this.name,
              deliveryTag: unsent.message.fields.deliveryTag,
              messages: unsent.count,
            });
          }
        } catch {
          c.stale += unsent.count;
        }
      }
    }
    this.#wakeDrain();
  }

  #publishConnection(
    event: 'lost' | 'reconnected' | 'failed',
    attempt: number,
    error: unknown,
  ): void {
    const channel = amqpChannels.connection;
    if (channel.hasSubscribers) channel.publish({ name: this.name, event, attempt, error });
  }
}

/**
 * A RabbitMQ source for `stream()`: consumes `queue` on a channel of its
 * own with prefetch = the sink's `maxBuffered`, and through `source.sink()`
 * acks each message after its write committed (one `multiple` ack per
 * contiguous run), requeues it after a backoff on a retryable failure and
 * nacks it to the queue's dead-letter exchange when it is poison.
 *
 * @example
 * ```ts
 * const source = amqpSource<Click>({
 *   connection: 'amqp://guest:guest@127.0.0.1:5672',
 *   queue: 'clicks',
 *   prefetch: 2_000,
 *   decode: (message) => JSON.parse(message.content.toString('utf8')) as Click,
 * });
 * const sink = source.sink({
 *   writeMany: (messages) => db.insertClicks(messages.map((m) => m.body)), // idempotent by id
 *   maxItems: 500,
 * });
 * await sink.consume(source); // until close
 * ```
 */
export function amqpSource<T = Buffer>(options: AmqpSourceOptions<T>): AmqpSource<T> {
  return new AmqpSourceImpl(options);
}
