/**
 * `RunWorker`: processes runs — large inputs (say 100,000 rows) created with
 * `store.createRun({ name, input, total, chunkSize })` — as leased chunks.
 *
 * Within a chunk the handler is given slices of `sliceSize` items; after each
 * slice the chunk's checkpoint (the first item not yet done) is stored with a
 * compare-and-set on the chunk's lease epoch. A crash loses at most the slice
 * in progress: whoever claims the chunk next resumes at its checkpoint, and
 * unfinished chunks are claimed lowest index first. When the store writes a
 * slice's effects in the checkpoint transaction (SQLite `onCheckpoint`), every
 * item's effect is committed exactly once.
 *
 * A graceful `close()` hands every active chunk back: after the slice in
 * progress is checkpointed, the chunk is released (a checkpoint with
 * `leaseMs: 0`), so the next claim, by any worker, resumes at that checkpoint
 * at once instead of waiting out the lease.
 *
 * A refused checkpoint stops the chunk: its lease was reclaimed, or the run
 * was paused (the store has handed the chunk back at its last accepted
 * checkpoint; it resumes there), failed or cancelled. The slice in progress
 * is then lost with its effects, never committed. A slice handler that throws
 * is a failed attempt, reported to the store (`failChunk`): the chunk is
 * retried from its checkpoint after `retryDelayMs`, and after the run's
 * `maxChunkAttempts` failures in a row the chunk and the run go `failed` with
 * the error until `resumeRun`.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import {
  InvalidOptionError,
  Listeners,
  describe,
  eventChannel,
  integerOption,
  knownOptions,
  numberOption,
  systemClock,
  type Clock,
  type Subscription,
} from '../core/index.js';
import { LeaseLostError } from './errors.js';
import { errorText } from './store-kit.js';
import type { ChunkLease, RunStore } from './store.js';
import { Periodic, PollTimer, leaseSettings, storeArgument } from './worker-kit.js';

/** A slice of a run handed to {@link RunHandler.processSlice}: items `[from, to)`. */
export interface RunSlice<I = unknown> {
  readonly runId: string;
  readonly name: string;
  /** The run's input (JSON), e.g. a file name or a query. */
  readonly input: I;
  readonly chunkIndex: number;
  readonly from: number;
  readonly to: number;
}

/** What a slice handler gets besides the slice. */
export interface RunSliceContext {
  /** The chunk lease's fencing token. */
  readonly epoch: number;
  /** Aborted when the chunk's lease is lost or the worker is force-closed. */
  readonly signal: AbortSignal;
}

/**
 * Processes one kind of run. `I` is the type of the run's input; without a
 * type argument it is `unknown` (the store hands back JSON, whose shape
 * only the caller knows): type it through the slice parameter
 * (`processSlice: ({ input }: RunSlice<{ file: string }>) => …`) or the
 * worker's type argument (`new RunWorker<{ import: { file: string } }>(…)`).
 */
export interface RunHandler<I = unknown> {
  /** Items per slice (and per checkpoint), integer >= 1. Default 100. */
  readonly sliceSize?: number;
  /**
   * Processes items `[from, to)`. Resolves with data handed to the store's
   * checkpoint (e.g. rows the SQLite `onCheckpoint` hook writes atomically
   * with the checkpoint). Throwing stops the chunk and counts a failed
   * attempt: it is retried from its checkpoint after `retryDelayMs`, and
   * fails with its run after the run's `maxChunkAttempts` in a row.
   */
  processSlice(slice: RunSlice<I>, ctx: RunSliceContext): unknown;
}

/**
 * Run handlers by run name. `M` maps each run name to the type of its input,
 * e.g. `RunHandlers<{ import: { file: string } }>`.
 */
export type RunHandlers<
  M extends Readonly<Record<string, unknown>> = Readonly<Record<string, unknown>>,
> = { readonly [K in keyof M]: RunHandler<M[K]> };

/** Options of {@link RunWorker}. */
export interface RunWorkerOptions {
  /** Chunks processed at once, integer >= 1. Default 1. */
  readonly concurrency?: number;
  /** Chunk lease in ms. Default 8 000. */
  readonly leaseMs?: number;
  /** Lease renewal period while a slice runs, ms. Default leaseMs / 4. */
  readonly heartbeatMs?: number;
  /** Poll period when no chunk is available, ms. Default 1 000. */
  readonly pollMs?: number;
  /** How long a chunk whose slice handler threw waits before it is claimed again, ms. Default leaseMs. */
  readonly retryDelayMs?: number;
  /** Only this run. */
  readonly runId?: string;
  readonly workerId?: string;
  /** Must be the store's clock. */
  readonly clock?: Clock;
}

/** Snapshot of {@link RunWorker.stats}. */
export interface RunWorkerStats {
  readonly workerId: string;
  readonly state: 'running' | 'closing' | 'closed';
  readonly activeChunks: number;
  readonly chunksDone: number;
  readonly slices: number;
  readonly items: number;
  /** Chunks stopped by a refused checkpoint: lease reclaimed, or run paused, failed or cancelled. */
  readonly leaseLost: number;
  /** Slice handler and store errors. */
  readonly errors: number;
  /** Failed attempts the store accepted (slice handler errors). */
  readonly chunkFailures: number;
  /** Items per second since the worker started. */
  readonly itemsPerSec: number;
}

/** Payload of {@link RunWorker.onError}. */
export interface RunErrorEvent {
  readonly error: unknown;
  readonly chunk: ChunkLease | undefined;
}

const WHERE = 'new RunWorker()';
const isAborted = (signal: AbortSignal): boolean => signal.aborted;
const chSlice = eventChannel<{ runId: string; chunk: number; from: number; to: number }>(
  'jobs',
  'run-slice',
);

interface Active {
  readonly lease: ChunkLease;
  readonly controller: AbortController;
  offset: number;
  /** Set once the lease is being handed back: heartbeats must not renew it any more. */
  releasing: boolean;
}

/**
 * A run worker. The type argument `M` (optional) maps run names to the
 * types of their inputs, so slice handlers get a typed `input` without
 * annotating their parameter.
 *
 * @example
 * ```ts
 * const run = await store.createRun({ name: 'import', input: { file: 'rows.csv' }, total: 100_000, chunkSize: 5_000 });
 * const worker = new RunWorker(store, {
 *   import: { sliceSize: 500, processSlice: ({ input, from, to }: RunSlice<{ file: string }>) => importRows(input.file, from, to) },
 * });
 * // or: new RunWorker<{ import: { file: string } }>(store, { import: { processSlice: ({ input }) => … } })
 * ```
 */
// M types the constructor's handlers only: workers of any input types share one type.
export class RunWorker<
  M extends Readonly<Record<string, unknown>> = Readonly<Record<string, unknown>>,
> {
  readonly workerId: string;
  readonly #store: RunStore;
  readonly #handlers: Readonly<Record<string, RunHandler>>;

  readonly #clock: Clock;
  readonly #concurrency: number;
  readonly #leaseMs: number;
  readonly #retryDelayMs: number;
  readonly #runId: string | undefined;
  readonly #inputs = new Map<string, unknown>();
  readonly #active = new Set<Active>();
  readonly #onError = new Listeners<RunErrorEvent>();
  #state: 'running' | 'closing' | 'closed' = 'running';
  #fetching = false;
  #drained = false;
  readonly #poll: PollTimer;
  /** Lease renewal; `running` is the renewal round in progress, if any. */
  readonly #renewal: Periodic;
  #closing: Promise<void> | undefined;
  /** close() waiting for the last active chunk and claim to settle. */
  #idle: (() => void) | undefined;
  /** drain() callers, woken by `#notify()`. */
  readonly #drainWaiters: (() => void)[] = [];
  readonly #startedAt: number;
  #chunksDone = 0;
  #slices = 0;
  #items = 0;
  #leaseLost = 0;
  #errors = 0;
  #chunkFailures = 0;

  constructor(store: RunStore, handlers: RunHandlers<M>, options: RunWorkerOptions = {}) {
    knownOptions(WHERE, options, [
      'concurrency',
      'leaseMs',
      'heartbeatMs',
      'pollMs',
      'retryDelayMs',
      'runId',
      'workerId',
      'clock',
    ]);
    this.#store = storeArgument<RunStore>(WHERE, store, [
      'claimChunks',
      'checkpointChunk',
      'completeChunk',
    ]);
    if (typeof (handlers as unknown) !== 'object' || (handlers as unknown) === null) {
      throw new InvalidOptionError(
        'handlers',
        `${WHERE}: handlers (the second argument) must be an object of run handlers by run name, each { processSlice(slice, ctx), sliceSize? }, got ${describe(handlers)}.`,
      );
    }
    for (const [name, h] of Object.entries(handlers as Readonly<Record<string, unknown>>)) {
      if (typeof (h as Partial<RunHandler> | undefined)?.processSlice !== 'function') {
        throw new InvalidOptionError(
          'handlers',
          `${WHERE}: handler ${JSON.stringify(name)} must be { processSlice(slice, ctx) }, got ${describe(h)}.`,
        );
      }
      const { sliceSize } = h as RunHandler;
      if (sliceSize !== undefined) integerOption(WHERE, `${name}.sliceSize`, sliceSize);
    }
    this.#handlers = handlers;
    this.#clock = options.clock ?? systemClock;
    const settings = leaseSettings(WHERE, options, 1);
    this.#concurrency = settings.concurrency;
    this.#leaseMs = settings.leaseMs;
    this.#retryDelayMs = numberOption(WHERE, 'retryDelayMs', options.retryDelayMs ?? this.#leaseMs);
    this.#runId = options.runId;
    this.workerId = settings.workerId;
    this.#startedAt = this.#clock.now();
    this.#poll = new PollTimer(this.#clock, settings.pollMs, () => {
      this.#drained = false;
      this.#pump();
    });
    this.#renewal = new Periodic(this.#clock, settings.heartbeatMs, () => this.#heartbeat());
    this.#renewal.start();
    this.#pump();
  }

  /** Fires when a slice handler or a store call failed. */
  onError(listener: (event: RunErrorEvent) => void): Subscription {
    return this.#onError.add(listener);
  }

  #pump(): void {
    if (this.#state !== 'running' || this.#fetching || this.#drained) return;
    if (this.#active.size >= this.#concurrency) return;
    this.#fetching = true;
    void this.#fetch();
  }

  async #fetch(): Promise<void> {
    let leases: ChunkLease[] = [];
    try {
      leases = await this.#store.claimChunks({
        workerId: this.workerId,
        limit: this.#concurrency - this.#active.size,
        leaseMs: this.#leaseMs,
        names: Object.keys(this.#handlers),
        ...(this.#runId === undefined ? {} : { runId: this.#runId }),
      });
    } catch (error) {
      this.#errors++;
      if (this.#onError.active) this.#onError.emit({ error, chunk: undefined });
    }
    const claimed = leases.map((lease): Active => ({
      lease,
      controller: new AbortController(),
      offset: lease.offset,
      releasing: false,
    }));
    if (this.#state !== 'running') {
      // close() was called while the claim was in flight: hand the chunks straight back.
      await Promise.all(claimed.map((a) => this.#release(a)));
      claimed.length = 0;
    }
    this.#fetching = false;
    if (claimed.length === 0) {
      this.#drained = true;
      this.#schedulePoll();
    }
    for (const active of claimed) {
      this.#active.add(active);
      void this.#process(active);
    }
    this.#pump();
    this.#notify();
  }

  /**
   * Wakes the waiters whose condition holds: drain() when the worker is idle
   * with nothing claimable (or no longer running), close() when no chunk is
   * active and no claim is in flight.
   */
  #notify(): void {
    const quiet = this.#active.size === 0 && !this.#fetching;
    if (this.#state !== 'running' || (quiet && this.#drained)) {
      for (const resolve of this.#drainWaiters.splice(0)) resolve();
    }
    if (quiet && this.#state !== 'running') this.#idle?.();
  }

  #schedulePoll(): void {
    if (this.#state === 'running') this.#poll.arm();
  }

  async #heartbeat(): Promise<void> {
    for (const a of this.#active) {
      if (a.controller.signal.aborted || a.releasing) continue;
      await this.#setLease(a, this.#leaseMs);
    }
  }

  /**
   * Stores the chunk's checkpoint again with a lease of `leaseMs` from now;
   * a refusal means the lease was lost. On a store error the lease simply
   * runs out on its own.
   */
  async #setLease(a: Active, leaseMs: number): Promise<void> {
    try {
      const ok = await this.#store.checkpointChunk({
        runId: a.lease.runId,
        index: a.lease.index,
        epoch: a.lease.epoch,
        offset: a.offset,
        leaseMs,
      });
      if (!ok) this.#lose(a);
    } catch (error) {
      this.#errors++;
      if (this.#onError.active) this.#onError.emit({ error, chunk: a.lease });
    }
  }

  #lose(a: Active): void {
    if (a.controller.signal.aborted) return;
    this.#leaseLost++;
    a.controller.abort(
      new LeaseLostError(`${a.lease.runId}#${String(a.lease.index)}`, a.lease.epoch),
    );
  }

  /**
   * Hands a chunk back at its checkpoint: after a checkpoint with `leaseMs: 0`
   * any worker's next claim resumes the chunk at once (not counted as a
   * failed attempt, unlike a lease left to expire).
   */
  async #release(a: Active): Promise<void> {
    a.releasing = true;
    // A renewal of this chunk already sent must land first, or it would extend the lease again.
    await this.#renewal.running;
    await this.#setLease(a, 0);
  }

  async #input(runId: string): Promise<unknown> {
    if (!this.#inputs.has(runId)) {
      const run = await this.#store.getRun(runId);
      this.#inputs.set(runId, run?.input);
    }
    return this.#inputs.get(runId);
  }

  async #process(a: Active): Promise<void> {
    const { lease, controller } = a;
    const handler = this.#handlers[lease.name] as RunHandler;
    const sliceSize = handler.sliceSize ?? 100;
    try {
      const input = await this.#input(lease.runId);
      // Closing stops before the next slice; the chunk is then handed back below.
      while (a.offset < lease.end && !controller.signal.aborted && this.#state === 'running') {
        const from = a.offset;
        const to = Math.min(lease.end, from + sliceSize);
        let data: unknown;
        try {
          data = await handler.processSlice(
            { runId: lease.runId, name: lease.name, input, chunkIndex: lease.index, from, to },
            { epoch: lease.epoch, signal: controller.signal },
          );
        } catch (error) {
          await this.#failed(a, error);
          return;
        }
        // The lease may have been lost (or the worker force-closed) while the slice ran.
        if (isAborted(controller.signal)) break;
        const ok = await this.#store.checkpointChunk({
          runId: lease.runId,
          index: lease.index,
          epoch: lease.epoch,
          offset: to,
          leaseMs: this.#leaseMs,
          data,
        });
        if (!ok) {
          this.#lose(a);
          break;
        }
        a.offset = to;
        this.#slices++;
        this.#items += to - from;
        if (chSlice.hasSubscribers) {
          chSlice.publish({ runId: lease.runId, chunk: lease.index, from, to });
        }
        // With a synchronous store (SQLite, memory) and handler, every await above settles as a
        // microtask: without a turn of the event loop here a whole run would go through before
        // any timer (the heartbeat that renews this lease), signal or I/O could run.
        await yieldToEventLoop();
      }
      if (!controller.signal.aborted) {
        if (a.offset < lease.end) await this.#release(a);
        else if (await this.#store.completeChunk(lease)) this.#chunksDone++;
        else this.#lose(a);
      }
    } catch (error) {
      this.#errors++;
      if (this.#onError.active) this.#onError.emit({ error, chunk: lease });
    } finally {
      this.#active.delete(a);
      this.#pump();
      this.#notify();
    }
  }

  /**
   * A slice handler threw: the error is reported (`onError`) and, unless the
   * chunk was already lost or the worker force-closed, stored as a failed
   * attempt that hands the chunk back for a retry after `retryDelayMs`.
   */
  async #failed(a: Active, error: unknown): Promise<void> {
    this.#errors++;
    if (this.#onError.active) this.#onError.emit({ error, chunk: a.lease });
    if (a.controller.signal.aborted) return;
    // A store without failure reports: the lease runs out and the chunk is retried after it.
    if (this.#store.failChunk === undefined) return;
    a.releasing = true;
    // A renewal already sent must land first, or it would be refused and counted as a lost lease.
    await this.#renewal.running;
    try {
      const ok = await this.#store.failChunk({
        runId: a.lease.runId,
        index: a.lease.index,
        epoch: a.lease.epoch,
        error: errorText(error),
        retryAt: this.#clock.now() + this.#retryDelayMs,
      });
      if (ok) this.#chunkFailures++;
      else this.#lose(a);
    } catch (storeError) {
      this.#errors++;
      if (this.#onError.active) this.#onError.emit({ error: storeError, chunk: a.lease });
    }
  }

  /** Counters and throughput. */
  stats(): RunWorkerStats {
    const elapsed = Math.max(1, this.#clock.now() - this.#startedAt) / 1000;
    return {
      workerId: this.workerId,
      state: this.#state,
      activeChunks: this.#active.size,
      chunksDone: this.#chunksDone,
      slices: this.#slices,
      items: this.#items,
      leaseLost: this.#leaseLost,
      errors: this.#errors,
      chunkFailures: this.#chunkFailures,
      itemsPerSec: this.#items / elapsed,
    };
  }

  /**
   * Resolves once no chunk is active, no claim is in flight and the last claim
   * found nothing (chunks that become claimable later are picked up by the
   * next poll), or once the worker is closing. Event-driven: nothing runs
   * while it waits.
   */
  drain(): Promise<void> {
    const idle = this.#active.size === 0 && !this.#fetching && this.#drained;
    if (this.#state !== 'running' || idle) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /**
   * Stops claiming. Gracefully (the default), each active chunk finishes the
   * slice in progress, stores its checkpoint and hands its lease back at once
   * (a checkpoint with `leaseMs: 0`), so the next claim, by this or any
   * worker, resumes the chunk at that checkpoint without waiting out the
   * lease; chunks a claim in flight returns are handed back untouched.
   * Resolves when all of that is done. With `force`, active chunks are
   * aborted at once: their slices in progress are never checkpointed and
   * their leases are kept until they expire, since an abandoned handler may
   * still be running. Idempotent.
   */
  close(options: { readonly force?: boolean } = {}): Promise<void> {
    this.#closing ??= (async () => {
      this.#state = 'closing';
      this.#poll.cancel();
      this.#notify();
      if (options.force === true) {
        // Abandon active chunks: their slices in progress are never checkpointed.
        for (const a of this.#active) a.controller.abort();
      } else if (this.#active.size > 0 || this.#fetching) {
        await new Promise<void>((resolve) => (this.#idle = resolve));
      }
      this.#renewal.stop();
      this.#state = 'closed';
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
