/**
 * The public types of `stream()`: its options, the context `writeMany`
 * receives, the events it publishes, its counters and the {@link StreamSink}
 * it returns.
 */
import type { Backoff, Clock, GracefulCloseOptions } from '../core/index.js';

/** The context `writeMany` receives. */
export interface StreamWriteContext {
  /** Aborts on a forced close: stop writing, the items will not be acknowledged. */
  readonly signal: AbortSignal;
  /** The sink's `name`. */
  readonly name: string;
  /** 1 for the first write of these items, more for a retry after a retryable error. */
  readonly attempt: number;
  /** Always undefined: a stream has no scopes; here so `ctx` has the shape every callback gets. */
  readonly scope: undefined;
}

/** What `onDeadLetter` receives: an item that failed alone, and why. */
export interface StreamDeadLetter<T> {
  readonly item: T;
  /** The error of its last write. */
  readonly error: unknown;
  /** Writes it took part in, alone or in a batch, until it was given up. */
  readonly attempts: number;
}

/** Options of `retry` in {@link StreamOptions}. */
export interface StreamRetryOptions {
  /**
   * Writes of the same items per retryable error streak, the first included
   * (>= 1, or `Infinity` to hold the stream through an outage). Once they run
   * out, the write is split like a non-retryable failure. Default 5.
   */
  readonly maxAttempts?: number;
  /** Wait before each retry. Default: exponential with full jitter from 100 ms. */
  readonly backoff?: Backoff | ((attempt: number, previousDelayMs: number) => number) | number;
}

/** Options of {@link stream}. */
export interface StreamOptions<T> {
  /**
   * Writes a batch of items, in the order they arrived, and resolves once they
   * are committed (a throw or rejection fails the whole batch). Must be
   * idempotent per item: after a crash or a forced close the source may
   * deliver an item again (INSERT … ON CONFLICT DO NOTHING, upsert by a key).
   */
  readonly writeMany: (items: T[], ctx: StreamWriteContext) => unknown;
  /** Name used in errors, events and stats. Default `'stream'`. */
  readonly name?: string;
  /** `'static'` (default): count, bytes and linger. `'adaptive'`: batch()'s adaptive window. */
  readonly window?: 'static' | 'adaptive';
  /** Most items per write. Default 1000 (static), 10,000 (adaptive: the cap of its size limit). */
  readonly maxItems?: number;
  /** Most bytes per write, as measured by `sizeOf`; a single larger item goes alone. Default unbounded. */
  readonly maxBytes?: number;
  /** The size of an item in bytes, for `maxBytes`. Required with `maxBytes`. */
  readonly sizeOf?: (item: T) => number;
  /**
   * Static: how long the first item of a window waits for more, in
   * milliseconds; 0 closes the window at the end of the tick. Default 5
   * (Kafka's `linger.ms`). Adaptive: the longest an item is held while writes
   * are in flight; default `latencyTargetMs / 4`.
   */
  readonly lingerMs?: number;
  /** Adaptive: the end-to-end latency an item should see (wait + write), in milliseconds. Default 100. */
  readonly latencyTargetMs?: number;
  /** Items accepted and not yet written or dead-lettered, at most. The source waits beyond it. Default 10,000. */
  readonly maxBuffered?: number;
  /** Writes in flight at once (adaptive: the cap of its concurrency limit). Default 4. */
  readonly maxConcurrentWrites?: number;
  /**
   * Per-key ordering: items of one key are written in arrival order and never
   * two writes holding that key are in flight at once. Default: no ordering
   * beyond arrival order within a write.
   */
  readonly orderBy?: (item: T) => unknown;
  /** Called once per committed write with its items. */
  readonly onCommitted?: (items: readonly T[]) => void;
  /** Called per item once its write committed (e.g. `(msg) => msg.ack()`). */
  readonly ack?: (item: T) => void;
  /**
   * Decides whether a failed write is retried as it is (after a backoff) or
   * split in halves to isolate a poisoned item. Default: never retryable.
   */
  readonly isRetryable?: (error: unknown) => boolean;
  /** Retries of a write that failed with a retryable error. */
  readonly retry?: StreamRetryOptions;
  /** Called for an item that failed alone (it is not acknowledged). */
  readonly onDeadLetter?: (dead: StreamDeadLetter<T>) => void;
  /** Time source for windows, backoff, latency and the close deadline. Default: the system clock. */
  readonly clock?: Clock;
}

/** Options of {@link StreamSink.push}. */
export interface StreamPushOptions<T> {
  /** Called once this item's write committed (besides the sink's `ack` option). */
  readonly ack?: (item: T) => void;
}

/** Options of {@link StreamSink.consume}. */
export interface StreamConsumeOptions {
  /** Stops taking items from the source when it aborts (what was taken is still written). */
  readonly signal?: AbortSignal;
}

/** What {@link StreamSink.close} resolves to. */
export interface StreamCloseReport<T> {
  /** The close turned forced (signal or `timeoutMs`). */
  readonly forced: boolean;
  /**
   * Items accepted but neither acknowledged nor dead-lettered: waiting, or in
   * a write that was abandoned (it may have committed; a redelivery must be idempotent).
   */
  readonly unwritten: readonly T[];
}

/** Payload of the `batchflight:stream:write` channel: one settled call of `writeMany`. */
export interface StreamWriteEvent {
  /** The sink's `name`. */
  readonly name: string;
  /** Items in the write. */
  readonly size: number;
  /** Their bytes by `sizeOf` (0 without it). */
  readonly bytes: number;
  /** 1 for the first write of these items, more for a retry. */
  readonly attempt: number;
  /** How long the oldest item waited in the sink before this write, in milliseconds. */
  readonly waitMs: number;
  /** Duration of `writeMany`, in milliseconds. */
  readonly durationMs: number;
  /** `'committed'`, or `'failed'` (then retried, split or dead-lettered). */
  readonly outcome: 'committed' | 'failed';
}

/** Payload of the `batchflight:stream:dead-letter` channel (no item: it may be personal data). */
export interface StreamDeadLetterEvent {
  /** The sink's `name`. */
  readonly name: string;
  /** Writes the item took part in (0: its `orderBy` or `sizeOf` threw). */
  readonly attempts: number;
  /** The `name` of the error, or its type. */
  readonly errorName: string;
}

/** Payload of the `batchflight:stream:closed` channel. */
export interface StreamClosedEvent {
  /** The sink's `name`. */
  readonly name: string;
  /** The close turned forced (signal or `timeoutMs`). */
  readonly forced: boolean;
  /** Items not written (see {@link StreamCloseReport.unwritten}). */
  readonly unwritten: number;
}

/** Payload of the `batchflight:stream:callback-error` channel: a user callback threw. */
export interface StreamCallbackErrorEvent {
  /** The sink's `name`. */
  readonly name: string;
  /** Which callback threw. */
  readonly callback: 'onCommitted' | 'ack' | 'onDeadLetter' | 'isRetryable';
  /** What it threw. */
  readonly error: unknown;
}

/** Counters of a {@link StreamSink}. */
export interface StreamStats {
  /** Items accepted from the source. */
  itemsIn: number;
  /** Items committed (and acknowledged). */
  written: number;
  /** Items dead-lettered. */
  dead: number;
  /** Items accepted and not yet written or dead-lettered (<= `maxBuffered`). */
  buffered: number;
  /** Items waiting for a write (in the window or a closed batch not yet sent). */
  queueDepth: number;
  /** Calls of `writeMany` (retries and split parts included). */
  writes: number;
  /** Calls of `writeMany` that committed. */
  committedWrites: number;
  /** written / committedWrites. */
  meanBatchSize: number;
  /** Mean duration of a committed write, in milliseconds. */
  meanWriteMs: number;
  /** Duration of the last committed write, in milliseconds. */
  lastWriteMs: number;
  /** Writes retried after a retryable error. */
  retries: number;
  /** Failed writes split in halves. */
  splits: number;
  /** Writes in flight (a write waiting for an earlier one of the same key counts). */
  inFlightWrites: number;
  /** Current size limit: L of the adaptive window, or `maxItems`. */
  sizeLimit: number;
  /** Current limit on writes in flight: C of the adaptive window, or `maxConcurrentWrites`. */
  concurrencyLimit: number;
  /** User callbacks that threw (the sink went on). */
  callbackErrors: number;
}

/** The object {@link stream} returns. */
export interface StreamSink<T> extends AsyncDisposable {
  readonly name: string;
  /**
   * Hands one item to the sink; resolves once it is accepted (at once while
   * fewer than `maxBuffered` are buffered, else when there is room).
   * Rejects with `ClosedError` after `close()`. Acknowledgement comes later,
   * through `ack` / `onCommitted`.
   */
  push(item: T, options?: StreamPushOptions<T>): Promise<void>;
  /**
   * Takes items from `source` only while there is room (the source is paused,
   * never dropped) until it ends, `signal` aborts or the sink closes.
   * Resolves then; rejects with the source's error.
   */
  consume(source: AsyncIterable<T> | Iterable<T>, options?: StreamConsumeOptions): Promise<void>;
  /** Sends what waits now (still within `maxConcurrentWrites`). */
  flush(): void;
  stats(): StreamStats;
  /**
   * Takes nothing more (push rejects, sources stop), writes what is buffered
   * and resolves when every item was written or dead-lettered. Forced when
   * `signal` aborts or `timeoutMs` passes: writes in flight are aborted and
   * what was not written is reported. Idempotent.
   */
  close(options?: GracefulCloseOptions): Promise<StreamCloseReport<T>>;
}
