/**
 * The sink: takes items from sources (pushed or pulled) only while fewer
 * than `maxBuffered` are buffered, hands each to the batch engine of
 * `batch()` as a distinct key, and reports what it did. The engine's windows
 * decide when a write leaves (static: `maxItems`, linger; adaptive: its
 * control loop on write cost, arrival rate and queue depth); `maxBytes` is
 * the sink's, since the engine's windows count keys, not bytes: the open
 * window is flushed once it holds `maxBytes`, and the protocol cuts a larger
 * batch into writes that fit. (The bytes of a closed batch still queued
 * behind `maxConcurrentWrites` count as open until it is sent, so under
 * pressure a window may be flushed early, never late.)
 *
 * What the engine does not do for a stream, and where it is done instead:
 * bytes (here); per-key ordering, bisection down to one item, the dead
 * letter and acknowledgement (the protocol, `protocol.ts`); the forced close
 * of writes in flight, whose distinct slots sit in no index the engine's
 * forced close walks (the protocol's `force`, called before the engine's).
 * Bounded buffering is here too, before the engine, so that room is counted
 * from the moment a source is asked for an item, not once it arrives.
 */
import {
  ClosedError,
  describe,
  forceCloseWhen,
  rejectWith,
  type GracefulCloseOptions,
} from '../core/index.js';
import { BatcherImpl } from '../batch/internal.js';
import { streamChannels } from './channels.js';
import { resolveStreamOptions, type Entry, type StreamConfig } from './options.js';
import { StreamProtocol } from './protocol.js';
import type {
  StreamCloseReport,
  StreamConsumeOptions,
  StreamOptions,
  StreamPushOptions,
  StreamSink,
  StreamStats,
} from './types.js';

/** A source (or pusher) waiting for room; room is reserved for it when it is woken. */
interface RoomWaiter {
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

function noop(): void {
  /* the outcome of an item is handled by the protocol and the rejection handler */
}

/** The implementation behind {@link StreamSink}. */
export class StreamSinkImpl<T> implements StreamSink<T> {
  readonly name: string;
  readonly #config: StreamConfig<T>;
  readonly #engine: BatcherImpl<Entry<T>, void>;
  readonly #protocol: StreamProtocol<T>;
  /** Items accepted (or room reserved for) and not yet written or dead-lettered. */
  #buffered = 0;
  #itemsIn = 0;
  /** Bytes added since the open window was last flushed for `maxBytes`. */
  #openBytes = 0;
  readonly #waiters: RoomWaiter[] = [];
  readonly #iterators = new Set<AsyncIterator<T> | Iterator<T>>();
  readonly #unwritten: T[] = [];
  #closed = false;
  #forced = false;
  #closing: Promise<StreamCloseReport<T>> | undefined;
  /** Sources asked for their next item and not answered yet. */
  #pulling = 0;
  /** A close waits for the pulls in progress: what they bring is still written. */
  #pullsDone: (() => void) | undefined;

  constructor(options: StreamOptions<T>) {
    const config = resolveStreamOptions(options);
    this.#config = config;
    this.name = config.name;
    const made: StreamProtocol<T>[] = [];
    const sent = (bytes: number): void => {
      this.#openBytes = Math.max(0, this.#openBytes - bytes);
    };
    // Every item is its own key (distinct): a stream has no dedupe, and two equal items are two rows.
    this.#engine = new BatcherImpl<Entry<T>, void>(config.engine, {
      distinct: true,
      fullWaitsForSchedule: false,
      protocol: (engine) => {
        const protocol = new StreamProtocol(config, engine, sent);
        made.push(protocol);
        return protocol;
      },
    });
    this.#protocol = made[0] as StreamProtocol<T>;
  }

  push(item: T, options?: StreamPushOptions<T>): Promise<void> {
    const ack = options?.ack;
    if (ack !== undefined && typeof ack !== 'function') {
      return Promise.reject(
        new TypeError(
          `${this.#config.where}: push() option ack must be a function (item) => void, got ${describe(ack)}.`,
        ),
      );
    }
    if (this.#closed) {
      return Promise.reject(
        new ClosedError(`${this.#config.where}: push() was called after close().`),
      );
    }
    if (this.#buffered < this.#config.maxBuffered) {
      this.#buffered++;
      this.#accept(item, ack);
      return Promise.resolve();
    }
    return this.#room().then(() => {
      this.#accept(item, ack);
    });
  }

  async consume(
    source: AsyncIterable<T> | Iterable<T>,
    options?: StreamConsumeOptions,
  ): Promise<void> {
    const where = `${this.#config.where}.consume()`;
    const signal = options?.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new TypeError(
        `${where}: option signal must be an AbortSignal, got ${describe(signal)}.`,
      );
    }
    const iterable = source as Partial<AsyncIterable<T> & Iterable<T>> | null;
    let iterator: AsyncIterator<T> | Iterator<T>;
    if (typeof iterable?.[Symbol.asyncIterator] === 'function') {
      iterator = (source as AsyncIterable<T>)[Symbol.asyncIterator]();
    } else if (typeof iterable?.[Symbol.iterator] === 'function') {
      iterator = (source as Iterable<T>)[Symbol.iterator]();
    } else {
      throw new TypeError(
        `${where}: expects an async iterable or iterable, got ${describe(source)}.`,
      );
    }
    if (this.#closed) {
      await iterator.return?.();
      throw new ClosedError(`${where}: called after close().`);
    }
    this.#iterators.add(iterator);
    let finished = false;
    try {
      while (this.#takes(signal)) {
        // Room first, then the next item: a full sink pulls nothing (the source is paused).
        if (this.#buffered < this.#config.maxBuffered) this.#buffered++;
        else if (
          !(await this.#room().then(
            () => true,
            () => false,
          ))
        )
          break;
        let next: IteratorResult<T>;
        this.#pulling++;
        try {
          next = await iterator.next();
        } catch (error) {
          this.#pulled();
          this.#release();
          finished = true;
          throw error;
        }
        if (next.done === true) {
          this.#pulled();
          this.#release();
          finished = true;
          break;
        }
        // Taken from the source during a graceful close: still written.
        this.#accept(next.value, undefined);
        this.#pulled();
      }
    } finally {
      this.#iterators.delete(iterator);
      // Tell the source we stop early (a broker consumer unsubscribes, a generator runs its finally).
      if (!finished) await iterator.return?.();
    }
  }

  flush(): void {
    this.#openBytes = 0;
    this.#engine.flush();
  }

  stats(): StreamStats {
    const engine = this.#engine.stats();
    const c = this.#protocol.counters;
    return {
      itemsIn: this.#itemsIn,
      written: c.written,
      dead: c.dead,
      buffered: this.#buffered,
      queueDepth: engine.queueDepth,
      writes: c.writes,
      committedWrites: c.committedWrites,
      meanBatchSize: c.committedWrites === 0 ? 0 : c.written / c.committedWrites,
      meanWriteMs: c.committedWrites === 0 ? 0 : c.totalWriteMs / c.committedWrites,
      lastWriteMs: c.lastWriteMs,
      retries: c.retries,
      splits: c.splits,
      inFlightWrites: engine.inFlightBatches,
      sizeLimit: engine.sizeLimit,
      concurrencyLimit: engine.concurrencyLimit,
      callbackErrors: c.callbackErrors,
    };
  }

  close(options?: GracefulCloseOptions): Promise<StreamCloseReport<T>> {
    const where = `${this.#config.where}.close()`;
    let disarm: () => void;
    try {
      disarm = forceCloseWhen(where, options, this.#config.clock, (reason) => {
        this.#force(reason);
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
    const error = new ClosedError(
      `${where}: the sink closed while waiting for room (maxBuffered).`,
    );
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
    // A source waiting for its next item (a broker with nothing to deliver) is told to stop now.
    for (const iterator of this.#iterators) {
      Promise.resolve(iterator.return?.()).catch(noop);
    }
    // What lingers leaves now; the engine closes once the pulls in progress brought their items.
    this.#engine.flush();
    const pulls =
      this.#pulling === 0
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            this.#pullsDone = resolve;
          });
    this.#closing = pulls
      .then(() => this.#engine.close())
      .then(() => {
        disarm();
        const report: StreamCloseReport<T> = {
          forced: this.#forced,
          unwritten: [...this.#unwritten],
        };
        const channel = streamChannels.closed;
        if (channel.hasSubscribers) {
          channel.publish({
            name: this.name,
            forced: report.forced,
            unwritten: report.unwritten.length,
          });
        }
        return report;
      });
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close().then(noop);
  }

  #force(reason: unknown): void {
    if (this.#forced) return;
    this.#forced = true;
    this.#closed = true;
    // No more waiting for sources: an item they bring from now on is reported unwritten.
    this.#pullsDone?.();
    this.#pullsDone = undefined;
    const error = new ClosedError(
      `${this.#config.where}: close() was forced; the item was not written.`,
      { cause: reason },
    );
    // The protocol first: the engine's forced close does not reach the writes in flight of
    // distinct keys (they are in no index), and it checks for the drain only once, at its end.
    this.#protocol.force(error);
    this.#engine.close({ signal: AbortSignal.abort(reason) }).then(noop, noop);
  }

  /** A pull of a source was answered; a close waiting for the pulls may go on. */
  #pulled(): void {
    if (--this.#pulling === 0 && this.#pullsDone !== undefined) {
      const done = this.#pullsDone;
      this.#pullsDone = undefined;
      done();
    }
  }

  /** A source may give one more item (the sink is open and the consumer's signal not aborted). */
  #takes(signal: AbortSignal | undefined): boolean {
    return !this.#closed && signal?.aborted !== true;
  }

  /** One unit of room (reserved for the caller), once the buffer has it. */
  #room(): Promise<void> {
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Gives back one unit of room reserved for an item that did not come. */
  #release(): void {
    this.#buffered--;
    this.#wake();
  }

  #wake(): void {
    while (this.#waiters.length > 0 && this.#buffered < this.#config.maxBuffered) {
      this.#buffered++;
      (this.#waiters.shift() as RoomWaiter).resolve();
    }
  }

  /** Room is already reserved for the item. */
  #accept(item: T, ack: ((item: T) => void) | undefined): void {
    const config = this.#config;
    this.#itemsIn++;
    let key: unknown;
    let bytes = 0;
    try {
      if (config.orderBy !== undefined) key = config.orderBy(item);
      if (config.sizeOf !== undefined) bytes = this.#size(item);
    } catch (error) {
      // A bad item must not stop the sink: it goes straight to the dead letter.
      this.#release();
      this.#deadOnArrival(item, error);
      return;
    }
    const entry: Entry<T> = { item, ack, key, bytes, at: config.clock.now() };
    // During a graceful close the engine may be closed already: the item is then reported unwritten.
    this.#engine.load(entry).then(
      () => {
        this.#release();
      },
      () => {
        // Only a close fails an item: a forced one, or a graceful one the item arrived after.
        this.#unwritten.push(item);
        this.#release();
      },
    );
    if (this.#closed) this.flush();
    else if (config.maxBytes !== Infinity) {
      this.#openBytes += bytes;
      if (this.#openBytes >= config.maxBytes) this.flush();
    }
  }

  #size(item: T): number {
    const bytes = (this.#config.sizeOf as (item: T) => number)(item);
    if (typeof bytes !== 'number' || !(bytes >= 0) || !Number.isFinite(bytes)) {
      throw new TypeError(
        `${this.#config.where}: sizeOf(item) must return a finite number of bytes >= 0, got ${describe(bytes)}.`,
      );
    }
    return bytes;
  }

  #deadOnArrival(item: T, error: unknown): void {
    this.#protocol.counters.dead++;
    try {
      this.#config.onDeadLetter?.({ item, error, attempts: 0 });
    } catch {
      this.#protocol.counters.callbackErrors++;
    }
  }
}

/**
 * A batching sink for streams: items from an async iterable or `push()` are
 * written in batches through `writeMany`, acknowledged only after their
 * write committed, with bounded buffering, optional per-key ordering, poison
 * isolation by bisection and a graceful drain on close.
 *
 * @example
 * ```ts
 * const sink = stream({
 *   name: 'clicks',
 *   writeMany: (events: Click[]) => db.insertMany(events), // idempotent per event id
 *   maxItems: 500,
 *   lingerMs: 20,
 *   ack: (event) => event.ack(),
 *   onDeadLetter: ({ item, error }) => log.warn({ id: item.id, error }),
 * });
 * await sink.consume(subscription); // paused while 10,000 items wait
 * await sink.close({ timeoutMs: 5_000 });
 * ```
 */
export function stream<T>(options: StreamOptions<T>): StreamSink<T> {
  return new StreamSinkImpl(options);
}
