/**
 * The JetStream pull source. The sink reads it as an async iterable and
 * asks for one message at a time, only while it has room; the source turns
 * those asks into pulls of the sink's free room (up to `maxFetch`), so
 * JetStream never sends more than the sink may buffer: what a pull brings
 * and the sink has not read yet, plus what the sink buffers, stays within
 * `maxBuffered`.
 *
 * Settlement is the sink's: a message is acked once its write committed
 * (`source.sink()` wires `ack`), nacked with a delay when its write failed
 * with a retryable error, terminated when it is poison. A message that is
 * never settled (the process died) JetStream delivers again after the
 * consumer's `ack_wait`; the sink's writes are idempotent by a key, so a
 * redelivery never doubles a row.
 *
 * One pull is open at a time: it stays open on the server until it has its
 * messages or `fetchExpiresMs` passes, and hands each message on as it
 * arrives, so a quiet stream costs one request per `fetchExpiresMs` and a
 * busy one a request per batch. A failed pull (connection down, server
 * restarting) is tried again after `fetchBackoff`, `maxFetchFailures` times
 * in a row at most.
 */
import type { ConsumerMessages, JsMsg } from 'nats';
import { InvalidOptionError, rejectWith, sleep, type GracefulCloseOptions } from 'batchflight';
import { describe, forceCloseWhen, functionOption } from 'batchflight/kit';
import { stream, type StreamDeadLetter, type StreamSink } from 'batchflight/stream';
import { natsChannels } from './channels.js';
import { NatsSourceError } from './errors.js';
import { NatsMessageImpl, type NatsSettlement } from './message.js';
import { resolveNatsOptions, type NatsSourceConfig } from './options.js';
import type {
  NatsCloseReport,
  NatsMessage,
  NatsSinkOptions,
  NatsSource,
  NatsSourceOptions,
  NatsSourceStats,
} from './types.js';

/** A read of the sink waiting for a message. */
interface Reader<T> {
  readonly resolve: (result: IteratorResult<NatsMessage<T>>) => void;
  readonly reject: (error: unknown) => void;
}

/** The stream sink's default `maxBuffered`, used when `sink()` is given none. */
const SINK_MAX_BUFFERED = 10_000;

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/** The implementation behind {@link NatsSource}. */
export class NatsSourceImpl<T> implements NatsSource<T> {
  readonly name: string;
  readonly #config: NatsSourceConfig<T>;
  /** Pulled and not yet read by the sink, from `#head` on. */
  #waiting: NatsMessageImpl<T>[] = [];
  #head = 0;
  readonly #readers: Reader<T>[] = [];
  /** Read by the sink and not yet settled. */
  readonly #unsettled = new Set<NatsMessageImpl<T>>();
  readonly #counters = {
    fetches: 0,
    fetchFailures: 0,
    received: 0,
    redelivered: 0,
    acked: 0,
    nacked: 0,
    terminated: 0,
    decodeErrors: 0,
  };
  #pulling: Promise<void> | undefined;
  #current: ConsumerMessages | undefined;
  #requested = 0;
  /** The error every read rejects with once the source gave up pulling. */
  #failed: NatsSourceError | undefined;
  /** The sink's free room, once `sink()` wired one. */
  #room: (() => number) | undefined;
  #closed = false;
  #forced = false;
  #unsettledAtForce = 0;
  #closing: Promise<NatsCloseReport> | undefined;
  #drained: (() => void) | undefined;
  /** Aborts the wait between failed pulls on close. */
  readonly #stop = new AbortController();

  constructor(options: NatsSourceOptions<T>) {
    this.#config = resolveNatsOptions(options);
    this.name = this.#config.name;
  }

  [Symbol.asyncIterator](): AsyncIterator<NatsMessage<T>> {
    return {
      next: () => this.#read(),
      return: () => {
        // The sink stops reading (it closes, or its consume() was aborted): what it has not
        // read goes back to JetStream now rather than after ack_wait.
        this.#endReads();
        this.#stopPull();
        this.#requeueWaiting();
        return Promise.resolve(DONE);
      },
    };
  }

  sink(options: NatsSinkOptions<T>): StreamSink<NatsMessage<T>> {
    const where = `${this.#config.where}.sink()`;
    if (typeof options !== 'object' || (options as unknown) === null) {
      throw new TypeError(
        `${where}: expects the options of stream() { writeMany, ... }, got ${describe(options)}.`,
      );
    }
    if (this.#room !== undefined) {
      throw new InvalidOptionError(
        'sink',
        `${where}: a source feeds one sink (its free room sizes the pulls), and sink() was called before on this source.`,
      );
    }
    const own = <F extends (...args: never[]) => unknown>(option: string, value: F | undefined) =>
      value === undefined ? undefined : functionOption<F>(where, option, value);
    const ack = own('ack', options.ack);
    const onDeadLetter = own('onDeadLetter', options.onDeadLetter);
    const isRetryable = own('isRetryable', options.isRetryable);
    const sink = stream<NatsMessage<T>>({
      ...options,
      name: options.name ?? this.name,
      ack: (message) => {
        message.ack();
        ack?.(message);
      },
      onDeadLetter: (dead) => {
        this.#writeFailed(dead, isRetryable);
        onDeadLetter?.(dead);
      },
    });
    const maxBuffered = options.maxBuffered ?? SINK_MAX_BUFFERED;
    this.#room = () => maxBuffered - sink.stats().buffered;
    return sink;
  }

  stats(): NatsSourceStats {
    return {
      ...this.#counters,
      waiting: this.#waiting.length - this.#head,
      unsettled: this.#unsettled.size,
      requested: this.#requested,
    };
  }

  close(options?: GracefulCloseOptions): Promise<NatsCloseReport> {
    const where = `${this.#config.where}.close()`;
    let disarm: () => void;
    try {
      disarm = forceCloseWhen(where, options, this.#config.clock, () => {
        this.#force();
      });
    } catch (error) {
      return rejectWith(error);
    }
    if (this.#closing !== undefined) {
      // The first close goes on; this one may only force it.
      void this.#closing.then(disarm, disarm);
      return this.#closing;
    }
    this.#closed = true;
    this.#stop.abort();
    this.#stopPull();
    this.#endReads();
    this.#requeueWaiting();
    const settled =
      this.#unsettled.size === 0
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            this.#drained = resolve;
          });
    this.#closing = settled.then(() => {
      disarm();
      const report: NatsCloseReport = { forced: this.#forced, unsettled: this.#unsettledAtForce };
      const channel = natsChannels.closed;
      if (channel.hasSubscribers) {
        channel.publish({ name: this.name, forced: report.forced, unsettled: report.unsettled });
      }
      return report;
    });
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close().then(() => undefined);
  }

  /** A forced close: what the sink took and did not settle is nacked (delivered again at once). */
  #force(): void {
    if (this.#forced) return;
    this.#forced = true;
    this.#unsettledAtForce = this.#unsettled.size;
    // JetStream would deliver them again after ack_wait; a nak makes it at once. A write of
    // theirs that still commits acks nothing (settled once): the redelivery is idempotent.
    for (const message of [...this.#unsettled]) message.nakFor('close', 0);
  }

  #read(): Promise<IteratorResult<NatsMessage<T>>> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    if (this.#closed) return Promise.resolve(DONE);
    const next = this.#take();
    if (next !== undefined) return Promise.resolve({ done: false, value: this.#hand(next) });
    return new Promise((resolve, reject) => {
      this.#readers.push({ resolve, reject });
      this.#pull();
    });
  }

  #take(): NatsMessageImpl<T> | undefined {
    if (this.#head >= this.#waiting.length) return undefined;
    const message = this.#waiting[this.#head++];
    if (this.#head > 1_024 && this.#head * 2 > this.#waiting.length) {
      this.#waiting = this.#waiting.slice(this.#head);
      this.#head = 0;
    }
    return message;
  }

  #hand(message: NatsMessageImpl<T>): NatsMessageImpl<T> {
    this.#unsettled.add(message);
    return message;
  }

  /** Starts the pull loop unless it runs. */
  #pull(): void {
    if (this.#pulling !== undefined) return;
    this.#pulling = this.#pullLoop().finally(() => {
      this.#pulling = undefined;
      // A read that came as the loop was ending would wait for ever.
      if (this.#readers.length > 0 && !this.#closed && this.#failed === undefined) this.#pull();
    });
  }

  /** How many messages the next pull asks for: the sink's free room, within `maxFetch`. */
  #demand(): number {
    const { maxFetch } = this.#config;
    if (this.#room === undefined) return maxFetch;
    // Each waiting read has reserved its unit of room in the sink already.
    const free = this.#room() + this.#readers.length - (this.#waiting.length - this.#head);
    return Math.max(1, Math.min(maxFetch, free));
  }

  async #pullLoop(): Promise<void> {
    const config = this.#config;
    let failures = 0;
    let previousDelayMs = 0;
    while (this.#readers.length > 0 && !this.#closed) {
      const requested = this.#demand();
      const started = config.clock.now();
      let received = 0;
      let error: unknown;
      this.#counters.fetches++;
      this.#requested = requested;
      try {
        const messages = await config.consumer.fetch({
          max_messages: requested,
          expires: config.fetchExpiresMs,
        });
        this.#current = messages;
        // close() or the sink's return() may have come during the await (TS narrows across it).
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
        if (this.#closed || this.#readers.length === 0)
          void messages.close().catch(() => undefined);
        for await (const raw of messages) {
          received++;
          this.#arrive(raw);
        }
        failures = 0;
        previousDelayMs = 0;
      } catch (e) {
        error = e;
      } finally {
        this.#current = undefined;
        this.#requested = 0;
      }
      const channel = natsChannels.fetch;
      if (channel.hasSubscribers) {
        channel.publish({
          name: this.name,
          requested,
          received,
          durationMs: config.clock.now() - started,
          error,
        });
      }
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() may have come during the pull
      if (error === undefined || this.#closed) continue;
      this.#counters.fetchFailures++;
      failures++;
      // A connection closed by its owner never comes back (the client reconnects by itself
      // while it can): no point in waiting out the failures.
      const closed = (error as { code?: unknown }).code === 'CONNECTION_CLOSED';
      if (closed || failures >= config.maxFetchFailures) {
        this.#failed = new NatsSourceError(
          closed
            ? `${config.where}: the NATS connection was closed; the source cannot pull any more.`
            : `${config.where}: ${String(failures)} pulls in a row failed (maxFetchFailures); the last one: ${error instanceof Error ? error.message : describe(error)}.`,
          failures,
          { cause: error },
        );
        for (const reader of this.#readers.splice(0)) reader.reject(this.#failed);
        return;
      }
      previousDelayMs = config.fetchBackoff.delayMs(failures, previousDelayMs);
      await sleep(previousDelayMs, { clock: config.clock, signal: this.#stop.signal }).catch(
        () => undefined,
      );
    }
  }

  #arrive(raw: JsMsg): void {
    const config = this.#config;
    this.#counters.received++;
    if (raw.info.deliveryCount > 1) this.#counters.redelivered++;
    let body: T;
    try {
      body = config.decode(raw);
    } catch (error) {
      this.#counters.decodeErrors++;
      try {
        config.onDeadLetter?.({ message: raw, error });
      } catch {
        // The message is terminated all the same; the callback's failure is the caller's.
      }
      new NatsMessageImpl<undefined>(raw, undefined, this.#settled).termFor(
        'decode',
        error instanceof Error ? error.message : undefined,
      );
      return;
    }
    const message = new NatsMessageImpl(raw, body, this.#settled);
    // Pulled after the close: back to JetStream at once.
    if (this.#closed) {
      message.nakFor('close', 0);
      return;
    }
    const reader = this.#readers.shift();
    if (reader === undefined) this.#waiting.push(message);
    else reader.resolve({ done: false, value: this.#hand(message) });
  }

  readonly #settled = (message: NatsMessageImpl<unknown>, settlement: NatsSettlement): void => {
    this.#unsettled.delete(message as NatsMessageImpl<T>);
    if (settlement.outcome === 'ack') this.#counters.acked++;
    else {
      if (settlement.outcome === 'nak') this.#counters.nacked++;
      else this.#counters.terminated++;
      const channel = natsChannels.settle;
      if (channel.hasSubscribers) {
        channel.publish({
          name: this.name,
          outcome: settlement.outcome,
          reason: settlement.reason,
          seq: message.seq,
          deliveries: message.deliveries,
          delayMs: settlement.delayMs,
        });
      }
    }
    if (this.#drained !== undefined && this.#unsettled.size === 0) {
      const done = this.#drained;
      this.#drained = undefined;
      done();
    }
  };

  /** The sink gave a message up: nak it after a backoff if the error may heal, else term it. */
  #writeFailed(
    dead: StreamDeadLetter<NatsMessage<T>>,
    isRetryable: ((error: unknown) => boolean) | undefined,
  ): void {
    // The sink hands back the items this source gave it, all made by NatsMessageImpl.
    // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
    const message = dead.item as NatsMessageImpl<T>;
    let retryable = false;
    try {
      retryable = isRetryable?.(dead.error) === true;
    } catch {
      // A throwing classifier makes the message poison: never retried on a guess.
    }
    if (retryable && message.deliveries < this.#config.maxDeliveries) {
      message.nakFor('write', this.#config.nakBackoff.delayMs(message.deliveries, 0));
    } else {
      message.termFor('write', dead.error instanceof Error ? dead.error.message : undefined);
    }
  }

  /** Ends the pull in progress (its unread messages come back after ack_wait, or nacked on arrival). */
  #stopPull(): void {
    void this.#current?.close().catch(() => undefined);
  }

  /** Ends every read waiting for a message. */
  #endReads(): void {
    for (const reader of this.#readers.splice(0)) reader.resolve(DONE);
  }

  /** Nacks what was pulled and not read, so that JetStream delivers it again at once. */
  #requeueWaiting(): void {
    for (let next = this.#take(); next !== undefined; next = this.#take()) {
      next.nakFor('close', 0);
    }
  }
}

/**
 * A JetStream pull-consumer source for `batchflight/stream`: it pulls in
 * batches sized by the sink's free room, and through `source.sink()` acks
 * each message after its write committed, nacks it with a delay on a
 * retryable failure and terminates it when it is poison. What a crashed
 * consumer held, JetStream delivers again after the consumer's `ack_wait`.
 *
 * @example
 * ```ts
 * const consumer = await nc.jetstream().consumers.get('CLICKS', 'loader');
 * const source = natsSource<Click>({ consumer, decode: (m) => m.json<Click>() });
 * const sink = source.sink({
 *   ...postgresSink({ pool, table: 'clicks', columns: ['id', 'page'], key: 'id',
 *     toRow: (m) => [m.body.id, m.body.page] }),
 *   maxItems: 1_000,
 * });
 * await sink.consume(source); // until close
 * ```
 */
export function natsSource<T = Uint8Array>(options: NatsSourceOptions<T>): NatsSource<T> {
  return new NatsSourceImpl(options);
}
