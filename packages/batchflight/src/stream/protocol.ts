/**
 * How the sink writes a batch the engine closed: `writeMany(items)`, then
 * acknowledgement of every item only once the write committed; on failure a
 * retry with backoff (`isRetryable`) or a split in halves, written one after
 * the other, until a poisoned item fails alone and is dead-lettered.
 *
 * Why a protocol of its own and not `batch()`'s routing: a write has no
 * per-item results to route, its failures are isolated by bisection down to
 * one item (routing splits only once per failure and rejects callers), and
 * per-key ordering must hold a write back until the earlier writes of its
 * keys settled. The windows, the adaptive control, the concurrency bound and
 * close stay the engine's.
 *
 * Per-key ordering. The engine closes batches in arrival order; a batch
 * holding key k waits, before it writes, for every earlier batch holding k
 * to settle (its items committed or dead-lettered). So no two writes of one
 * key are in flight and a key's items are written in arrival order, while
 * batches of other keys go on in parallel. The wait counts as in flight, so
 * the adaptive window reads a key conflict as queueing and lowers its
 * concurrency: fewer, larger writes, which is what a hot key needs.
 */
import { ClosedError, rejectWith, sleep } from '../core/index.js';
import {
  DONE,
  live,
  type Batch,
  type Call,
  type CallProtocol,
  type EngineCore,
  type Slot,
} from '../batch/internal.js';
import type { Entry, StreamConfig } from './options.js';
import { streamChannels } from './channels.js';
import type { StreamCallbackErrorEvent, StreamStats, StreamWriteContext } from './types.js';

/** What the protocol keeps per batch until every item of it settled. */
class BatchState<T> {
  remaining: number;
  /** Ordering: settles when every item settled; later batches of its keys wait for it. */
  readonly done: Promise<void> | undefined;
  resolve: () => void = () => undefined;
  constructor(
    readonly batch: Batch<Entry<T>>,
    size: number,
    ordered: boolean,
  ) {
    this.remaining = size;
    this.done = ordered
      ? new Promise((resolve) => {
          this.resolve = resolve;
        })
      : undefined;
  }
}

/** The counters the protocol moves (the sink adds what the engine knows). */
export type ProtocolCounters = Pick<
  StreamStats,
  | 'written'
  | 'dead'
  | 'writes'
  | 'committedWrites'
  | 'retries'
  | 'splits'
  | 'callbackErrors'
  | 'lastWriteMs'
> & { totalWriteMs: number };

/** The stream's {@link CallProtocol}. */
export class StreamProtocol<T> implements CallProtocol<Entry<T>> {
  readonly counters: ProtocolCounters = {
    written: 0,
    dead: 0,
    writes: 0,
    committedWrites: 0,
    retries: 0,
    splits: 0,
    callbackErrors: 0,
    lastWriteMs: 0,
    totalWriteMs: 0,
  };
  readonly #states = new Map<Batch<Entry<T>>, BatchState<T>>();
  /** Ordering: the batch that holds each key last. */
  readonly #tails = new Map<unknown, BatchState<T>>();
  /** Set by {@link force}: nothing is acknowledged any more. */
  #forced: ClosedError | undefined;

  constructor(
    readonly config: StreamConfig<T>,
    readonly engine: EngineCore<Entry<T>>,
    /** A batch left its window with these bytes (the sink's `maxBytes` accounting). */
    readonly sent: (bytes: number) => void,
  ) {}

  start(call: Call<Entry<T>>, entries: Entry<T>[]): void {
    if (this.#forced !== undefined) {
      this.engine.callDone(call);
      return;
    }
    let state = this.#states.get(call.batch);
    if (state !== undefined) {
      this.#write(call, entries);
      return;
    }
    // The first call of a batch (retries and split parts reuse the batch).
    const ordered = this.config.orderBy !== undefined;
    state = new BatchState<T>(call.batch, entries.length, ordered);
    this.#states.set(call.batch, state);
    if (this.config.maxBytes !== Infinity) {
      let bytes = 0;
      for (const entry of entries) bytes += entry.bytes;
      this.sent(bytes);
    }
    if (!ordered) {
      this.#write(call, entries);
      return;
    }
    const before = new Set<Promise<void>>();
    for (const entry of entries) {
      const tail = this.#tails.get(entry.key);
      if (tail !== undefined && tail !== state) before.add(tail.done as Promise<void>);
      this.#tails.set(entry.key, state);
    }
    if (before.size === 0) this.#write(call, entries);
    else {
      void Promise.all(before).then(() => {
        this.#write(call, entries);
      });
    }
  }

  /**
   * A forced close: every batch still holding items is aborted (its writes
   * see `ctx.signal` abort, its backoff ends) and its items fail with
   * `error`, so the engine drains; nothing is acknowledged from now on.
   */
  force(error: ClosedError): void {
    if (this.#forced !== undefined) return;
    this.#forced = error;
    for (const state of [...this.#states.values()]) {
      state.batch.abort(error);
      for (const slot of state.batch.slots) {
        if (slot.state !== DONE) this.engine.rejectSlot(slot, error);
      }
      this.#release(state);
    }
  }

  #write(call: Call<Entry<T>>, entries: Entry<T>[]): void {
    if (this.#forced !== undefined) {
      this.engine.callDone(call);
      return;
    }
    const parts = this.#byBytes(call.slots);
    if (parts !== undefined) {
      this.#sequence(call, parts);
      return;
    }
    const items = entries.map((entry) => entry.item);
    const ctx: StreamWriteContext = {
      signal: call.signal,
      name: this.config.name,
      attempt: call.attempt,
      scope: undefined,
    };
    this.counters.writes++;
    const startedAt = this.config.clock.now();
    let result: Promise<unknown>;
    try {
      result = Promise.resolve(this.config.writeMany(items, ctx));
    } catch (error) {
      result = rejectWith(error);
    }
    result.then(
      () => {
        this.#committed(call, entries, items, startedAt);
      },
      (error: unknown) => {
        this.#failed(call, entries, error, startedAt);
      },
    );
  }

  /** The slots cut into consecutive parts of at most `maxBytes`, or undefined when they fit. */
  #byBytes(slots: Slot<Entry<T>>[]): Slot<Entry<T>>[][] | undefined {
    const max = this.config.maxBytes;
    if (max === Infinity || slots.length < 2) return undefined;
    const parts: Slot<Entry<T>>[][] = [];
    let part: Slot<Entry<T>>[] = [];
    let bytes = 0;
    for (const slot of slots) {
      const size = slot.key.bytes;
      if (part.length > 0 && bytes + size > max) {
        parts.push(part);
        part = [];
        bytes = 0;
      }
      part.push(slot);
      bytes += size;
    }
    if (parts.length === 0) return undefined;
    parts.push(part);
    return parts;
  }

  /** Writes `parts` one after the other as calls of the same batch, then the call is done. */
  #sequence(call: Call<Entry<T>>, parts: Slot<Entry<T>>[][]): void {
    const { batch, attempt } = call;
    let at = 0;
    const next = (): void => {
      while (at < parts.length) {
        const still = (parts[at++] as Slot<Entry<T>>[]).filter(live);
        if (still.length > 0 && this.#forced === undefined) {
          this.engine.call(batch, still, attempt, next);
          return;
        }
      }
      this.engine.callDone(call);
    };
    next();
  }

  #publishWrite(
    call: Call<Entry<T>>,
    entries: Entry<T>[],
    startedAt: number,
    outcome: 'committed' | 'failed',
  ): void {
    const channel = streamChannels.write;
    if (!channel.hasSubscribers) return;
    let bytes = 0;
    let oldest = startedAt;
    for (const entry of entries) {
      bytes += entry.bytes;
      if (entry.at < oldest) oldest = entry.at;
    }
    channel.publish({
      name: this.config.name,
      size: entries.length,
      bytes,
      attempt: call.attempt,
      waitMs: startedAt - oldest,
      durationMs: this.config.clock.now() - startedAt,
      outcome,
    });
  }

  #committed(call: Call<Entry<T>>, entries: Entry<T>[], items: T[], startedAt: number): void {
    if (this.#forced !== undefined) {
      // Abandoned by the forced close: reported unwritten, never acknowledged.
      this.engine.callDone(call);
      return;
    }
    const c = this.counters;
    const durationMs = this.config.clock.now() - startedAt;
    c.written += items.length;
    c.committedWrites++;
    c.lastWriteMs = durationMs;
    c.totalWriteMs += durationMs;
    this.#publishWrite(call, entries, startedAt, 'committed');
    const { onCommitted, ack } = this.config;
    if (onCommitted !== undefined)
      this.#guard('onCommitted', () => {
        onCommitted(items);
      });
    for (const entry of entries) {
      if (ack !== undefined) {
        this.#guard('ack', () => {
          ack(entry.item);
        });
      }
      const own = entry.ack;
      if (own !== undefined) {
        this.#guard('ack', () => {
          own(entry.item);
        });
      }
    }
    this.#settle(call, call.slots);
    this.engine.callDone(call);
  }

  #failed(call: Call<Entry<T>>, entries: Entry<T>[], error: unknown, startedAt: number): void {
    this.#publishWrite(call, entries, startedAt, 'failed');
    if (this.#forced !== undefined) {
      this.engine.callDone(call);
      return;
    }
    const { slots, attempt } = call;
    if (attempt < this.config.maxAttempts && this.#retryable(error)) {
      this.#retry(call);
      return;
    }
    if (slots.length > 1) {
      this.counters.splits++;
      const half = Math.ceil(slots.length / 2);
      // The halves keep the attempt count: a retryable streak that ran out hunts a poison from here.
      this.#sequence(call, [slots.slice(0, half), slots.slice(half)]);
      return;
    }
    const slot = slots[0] as Slot<Entry<T>>;
    this.counters.dead++;
    const { onDeadLetter } = this.config;
    if (onDeadLetter !== undefined) {
      this.#guard('onDeadLetter', () => {
        onDeadLetter({ item: slot.key.item, error, attempts: attempt });
      });
    }
    const channel = streamChannels.deadLetter;
    if (channel.hasSubscribers) {
      channel.publish({
        name: this.config.name,
        attempts: attempt,
        errorName: error instanceof Error ? error.name : typeof error,
      });
    }
    this.#settle(call, slots);
    this.engine.callDone(call);
  }

  #retryable(error: unknown): boolean {
    try {
      return this.config.isRetryable(error);
    } catch (thrown) {
      this.#callbackError('isRetryable', thrown);
      return false;
    }
  }

  #retry(call: Call<Entry<T>>): void {
    const { batch, attempt, slots } = call;
    this.counters.retries++;
    const delay = this.config.backoff.delayMs(attempt, batch.lastDelayMs);
    batch.lastDelayMs = delay;
    // What waits for this call (the next part of a split) waits for its retry too: else the
    // next part would be written during the backoff, before these items (per-key order).
    const onDone = call.onDone;
    call.onDone = undefined;
    batch.outstanding++;
    this.engine.callDone(call);
    const giveUp = (): void => {
      batch.outstanding--;
      onDone?.();
      this.engine.maybeBatchDone(batch);
    };
    sleep(delay, { clock: this.config.clock, signal: batch.signal() }).then(
      () => {
        const still = slots.filter(live);
        if (still.length > 0 && this.#forced === undefined) {
          batch.outstanding--;
          this.engine.call(batch, still, attempt + 1, onDone);
        } else giveUp();
      },
      // Aborted by a forced close, which already failed the items.
      giveUp,
    );
  }

  /** The slots are written or dead-lettered: they leave the engine, their batch may release its keys. */
  #settle(call: Call<Entry<T>>, slots: Slot<Entry<T>>[]): void {
    for (const slot of slots) this.engine.resolveSlot(slot, undefined);
    const state = this.#states.get(call.batch);
    if (state === undefined) return;
    state.remaining -= slots.length;
    if (state.remaining <= 0) this.#release(state);
  }

  #release(state: BatchState<T>): void {
    this.#states.delete(state.batch);
    if (state.done === undefined) return;
    for (const slot of state.batch.slots) {
      if (this.#tails.get(slot.key.key) === state) this.#tails.delete(slot.key.key);
    }
    state.resolve();
  }

  #guard(callback: StreamCallbackErrorEvent['callback'], run: () => void): void {
    try {
      run();
    } catch (error) {
      this.#callbackError(callback, error);
    }
  }

  #callbackError(callback: StreamCallbackErrorEvent['callback'], error: unknown): void {
    this.counters.callbackErrors++;
    const channel = streamChannels.callbackError;
    if (channel.hasSubscribers) channel.publish({ name: this.config.name, callback, error });
  }
}
