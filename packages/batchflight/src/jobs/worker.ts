/**
 * `Worker`: pulls jobs from a `JobStore` in batches, runs them with bounded
 * concurrency, and settles them in batches.
 *
 * Why batches: on a database the cost of a job is dominated by its claim and
 * completion round trips, not by its handler. A worker claims up to
 * `claimBatch` jobs in one call, runs them `concurrency` at a time (buffered
 * jobs keep their leases by heartbeat), and group-commits every result that
 * finished while the previous flush was in flight as one `complete` (and one
 * `fail`) call. Claims refill when half the buffer is used, so the handlers
 * never wait for the store in steady state; each refill asks for a whole
 * `claimBatch` (fewer, fuller claims cost the database less per job), so up to
 * 1.5 × `claimBatch` jobs are buffered.
 *
 * Leases: every held job (running or buffered) is heartbeated every
 * `heartbeatMs`; a refused heartbeat means the lease was reclaimed or the job
 * cancelled: the job's `ctx.signal` aborts with `LeaseLostError` and its
 * result is dropped (the store would refuse it anyway). A dead worker's jobs
 * are reclaimed by the others once `leaseMs` passed: with the defaults
 * (lease 8 s, poll 1 s) within ~9 s.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import {
  ClosedError,
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
  type Timer,
} from '../core/index.js';
import { constantBackoff, exponentialBackoff, toBackoff, type Backoff } from '../retry/backoff.js';
import { LeaseLostError, NonRetryableError, UnknownJobError } from './errors.js';
import { errorText } from './store-kit.js';
import type {
  BackoffSpec,
  CompleteInput,
  FailInput,
  JobCounts,
  JobRecord,
  JobStore,
  Refusal,
} from './store.js';

/** What a handler gets besides the payload. */
export interface JobContext<P = unknown> {
  /** The job as claimed (state `leased`). */
  readonly job: JobRecord<P>;
  /**
   * The fencing token of this attempt. Guard writes outside the store with it
   * (e.g. `UPDATE … WHERE fence < :epoch`) so a worker whose lease was
   * reclaimed cannot overwrite the newer attempt's effects.
   */
  readonly epoch: number;
  /** 1-based attempt number. */
  readonly attempt: number;
  readonly workerId: string;
  /** Aborted when the lease is lost (`LeaseLostError`) or the worker is force-closed (`ClosedError`). */
  readonly signal: AbortSignal;
  /**
   * A durable step: runs `fn` once per job and memoizes its (JSON) result
   * under the job, so a retry after a crash resumes after the last finished
   * step instead of repeating its effect. Rejects with `LeaseLostError` if
   * the lease was lost before the result could be recorded.
   */
  step<T>(name: string, fn: () => Promise<T> | T): Promise<T>;
}

/** A handler of one job: resolves with the job's result (stored as JSON) or throws to fail the attempt. */
export type JobHandler<P = never, R = unknown> = (payload: P, ctx: JobContext<P>) => Promise<R> | R;

/** The outcome of one job of a batch handler. */
export type JobOutcome<R = unknown> =
  | { readonly ok: true; readonly result?: R }
  | {
      readonly ok: false;
      readonly error: unknown;
      /** False: do not retry, dead now. Default true. */
      readonly retry?: boolean;
    };

/** A handler definition with options. */
export interface JobDefinition<P = never, R = unknown> {
  /** Runs one job. */
  readonly handle?: JobHandler<P, R>;
  /**
   * Runs many jobs of this name at once (one downstream bulk call) and
   * reports one outcome per job, in order; only the failed ones are retried.
   * A batch takes one concurrency slot.
   */
  readonly handleMany?: (jobs: readonly JobContext<P>[]) => Promise<readonly JobOutcome<R>[]>;
  /** Largest batch handed to `handleMany`. Default the worker's `claimBatch`. */
  readonly maxBatch?: number;
  /** Retry delay when the job has no stored `backoff`. */
  readonly backoff?: Backoff | ((attempt: number, previousDelayMs: number) => number) | number;
}

/** Handlers by job name. */
export type JobHandlers = Readonly<Record<string, JobHandler | JobDefinition>>;

/** Options of {@link Worker}. */
export interface WorkerOptions {
  /** Jobs (or batches) running at once, integer >= 1. Default 10. */
  readonly concurrency?: number;
  /** Most jobs claimed per store call, integer >= 1. Default 100. */
  readonly claimBatch?: number;
  /** Lease length in ms; a dead worker's jobs are reclaimed after it. Default 8 000. */
  readonly leaseMs?: number;
  /** Heartbeat period in ms, < leaseMs. Default leaseMs / 4. */
  readonly heartbeatMs?: number;
  /** Poll period in ms when idle (wake-ups from the store come sooner). Default 1 000. */
  readonly pollMs?: number;
  /** Queues to claim from. Default every queue. */
  readonly queues?: readonly string[];
  /** Identifies this worker in leases and the attempt log. Default `host:pid:random`. */
  readonly workerId?: string;
  /** Must be the store's clock. Default `systemClock`. */
  readonly clock?: Clock;
  /** Fair-share weights by partition key (tenant); default weight 1. */
  readonly weights?: Readonly<Record<string, number>>;
  /** Priority aging: +1 effective priority per `agingMs` waited. Default 60 000. */
  readonly agingMs?: number;
  /** Retry delay when neither the job nor its handler has one. Default exponential 1 s … 5 min, full jitter. */
  readonly backoff?: Backoff | ((attempt: number, previousDelayMs: number) => number) | number;
  /** Sample queue depth (store counts) for `stats().depth` every this many ms; 0 disables. Default 5 000. */
  readonly depthSampleMs?: number;
  /** Start claiming at once. Default true; otherwise call `start()`. */
  readonly autoStart?: boolean;
}

/** Options of {@link Worker.close}. */
export interface CloseOptions {
  /**
   * Abort running handlers (`ctx.signal` with `ClosedError`) and hand their
   * jobs back instead of waiting. Default false.
   */
  readonly force?: boolean;
  /** Graceful close turns forced after this many ms. Default Infinity. */
  readonly timeoutMs?: number;
}

/** Latency summary in ms over the most recent samples. */
export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** Snapshot of {@link Worker.stats}. */
export interface WorkerStats {
  readonly workerId: string;
  readonly state: 'idle' | 'running' | 'closing' | 'closed';
  readonly running: number;
  readonly buffered: number;
  readonly claimed: number;
  readonly succeeded: number;
  /** Attempts that failed and will be retried. */
  readonly failed: number;
  readonly dead: number;
  /** Completions or failures the store refused (stale epoch). */
  readonly refused: number;
  readonly leaseLost: number;
  readonly claimCalls: number;
  readonly flushCalls: number;
  /** Successes per second over the last 10 s. */
  readonly throughputPerSec: number;
  /** succeeded / (succeeded + failed + dead); 1 before any outcome. */
  readonly successRate: number;
  /** From `max(createdAt, runAt)` to the claim that started the attempt. */
  readonly enqueueToStartMs: LatencySummary;
  /** Handler run time. */
  readonly runMs: LatencySummary;
  /** The last sampled store counts (depth by state and partition, oldest ready age). */
  readonly depth: JobCounts | undefined;
}

/** Payload of {@link Worker.onCompleted}. */
export interface JobCompletedEvent {
  readonly job: JobRecord;
  readonly result: unknown;
  readonly durationMs: number;
}
/** Payload of {@link Worker.onFailed}. */
export interface JobFailedEvent {
  readonly job: JobRecord;
  readonly error: unknown;
  /** False when the job went dead. */
  readonly willRetry: boolean;
}
/** Payload of {@link Worker.onLeaseLost}. */
export interface LeaseLostEvent {
  readonly job: JobRecord;
  readonly refusal: Refusal | undefined;
}
/** Payload of {@link Worker.onError}. */
export interface WorkerErrorEvent {
  readonly error: unknown;
  readonly during: 'claim' | 'flush' | 'heartbeat' | 'release' | 'depth';
}

/**
 * A job this worker holds (buffered or running). Its `AbortController` is made
 * on the first read of `ctx.signal`: most handlers never read it, and making
 * one per job was the largest per-job cost of the worker on a fast store.
 */
class Held {
  lost = false;
  #controller: AbortController | undefined;
  #aborted = false;
  #reason: unknown;

  constructor(readonly job: JobRecord) {}

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** Aborts `signal` with `reason` (the first reason wins, as with `AbortController`). */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }
}

/** What a handler sees of a held job; `step` is the worker's, bound once per worker. */
class Context implements JobContext {
  readonly job: JobRecord;
  readonly epoch: number;
  readonly attempt: number;
  readonly #held: Held;
  readonly #step: <T>(held: Held, name: string, fn: () => Promise<T> | T) => Promise<T>;

  constructor(
    held: Held,
    readonly workerId: string,
    step: <T>(held: Held, name: string, fn: () => Promise<T> | T) => Promise<T>,
  ) {
    this.#held = held;
    this.job = held.job;
    this.epoch = held.job.epoch;
    this.attempt = held.job.attempts;
    this.#step = step;
  }

  get signal(): AbortSignal {
    return this.#held.signal;
  }

  step<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
    return this.#step(this.#held, name, fn);
  }
}

const WHERE = 'new Worker()';
const SAMPLES = 1024;
const chClaimed = eventChannel<{ workerId: string; count: number }>('jobs', 'claimed');
const chSettled = eventChannel<{
  workerId: string;
  succeeded: number;
  failed: number;
  dead: number;
  refused: number;
}>('jobs', 'settled');
const chLeaseLost = eventChannel<{ workerId: string; jobId: string; epoch: number }>(
  'jobs',
  'lease-lost',
);

class Reservoir {
  readonly #values: number[] = [];
  #next = 0;
  add(v: number): void {
    if (this.#values.length < SAMPLES) this.#values.push(v);
    else this.#values[this.#next++ % SAMPLES] = v;
  }
  summary(): LatencySummary {
    const sorted = [...this.#values].sort((a, b) => a - b);
    const at = (q: number): number =>
      sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
    return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? 0 };
  }
}

/** A stored backoff spec as a Backoff. */
export function backoffFromSpec(spec: BackoffSpec): Backoff {
  if (typeof spec === 'number') return constantBackoff(spec);
  if (spec.type === 'constant') return constantBackoff(spec.delayMs);
  const { type: _type, ...rest } = spec;
  return exponentialBackoff({ initialDelayMs: 1_000, maxDelayMs: 300_000, ...rest });
}

/**
 * A worker.
 *
 * @example
 * ```ts
 * await using worker = new Worker(store, {
 *   email: async (payload: { to: string }, ctx) => {
 *     const id = await ctx.step('send', () => mailer.send(payload.to, { signal: ctx.signal }));
 *     return { id };
 *   },
 *   thumbnail: {
 *     handleMany: async (jobs) => (await resizeAll(jobs.map((j) => j.job.payload))).map((r) =>
 *       r.ok ? { ok: true, result: r.url } : { ok: false, error: r.error }),
 *   },
 * }, { concurrency: 20, claimBatch: 200 });
 * ```
 */
export class Worker {
  /** This worker's id in leases and the attempt log. */
  readonly workerId: string;
  readonly #store: JobStore;
  readonly #handlers: JobHandlers;
  readonly #names: string[];
  readonly #clock: Clock;
  readonly #concurrency: number;
  readonly #claimBatch: number;
  readonly #leaseMs: number;
  readonly #heartbeatMs: number;
  readonly #pollMs: number;
  readonly #queues: readonly string[] | undefined;
  readonly #weights: Readonly<Record<string, number>> | undefined;
  readonly #agingMs: number | undefined;
  readonly #backoff: Backoff;
  readonly #handlerBackoff = new Map<string, Backoff>();
  readonly #depthSampleMs: number;

  #state: 'idle' | 'running' | 'closing' | 'closed' = 'idle';
  readonly #buffer: Held[] = [];
  readonly #held = new Map<string, Held>();
  #active = 0;
  #runningJobs = 0;
  #fetching = false;
  #fetchDone: Promise<void> | undefined;
  #drained = false;
  // A wake-up that arrived while a claim was in flight: that claim may have
  // been evaluated before the new job existed, so its short answer proves nothing.
  #wokenDuringFetch = false;
  #completions: { held: Held; input: CompleteInput; durationMs: number }[] = [];
  #failures: { held: Held; input: FailInput; error: unknown }[] = [];
  #flushScheduled = false;
  #flushing: Promise<void> | undefined;
  #pollTimer: Timer | undefined;
  #heartbeatTimer: Timer | undefined;
  #depthTimer: Timer | undefined;
  #subscription: Subscription | undefined;
  #closing: Promise<void> | undefined;
  #idle: (() => void) | undefined;

  #claimed = 0;
  #succeeded = 0;
  #failed = 0;
  #dead = 0;
  #refused = 0;
  #leaseLost = 0;
  #claimCalls = 0;
  #flushCalls = 0;
  readonly #latency = new Reservoir();
  readonly #runTime = new Reservoir();
  readonly #perSecond = new Map<number, number>();
  #startedAt = 0;
  #depth: JobCounts | undefined;

  readonly #onCompleted = new Listeners<JobCompletedEvent>();
  readonly #onFailed = new Listeners<JobFailedEvent>();
  readonly #onLeaseLost = new Listeners<LeaseLostEvent>();
  readonly #onError = new Listeners<WorkerErrorEvent>();

  constructor(store: JobStore, handlers: JobHandlers, options: WorkerOptions = {}) {
    knownOptions(WHERE, options, [
      'concurrency',
      'claimBatch',
      'leaseMs',
      'heartbeatMs',
      'pollMs',
      'queues',
      'workerId',
      'clock',
      'weights',
      'agingMs',
      'backoff',
      'depthSampleMs',
      'autoStart',
    ]);
    this.#store = store;
    this.#handlers = handlers;
    this.#names = Object.keys(handlers);
    if (this.#names.length === 0) {
      throw new InvalidOptionError(
        'handlers',
        `${WHERE}: handlers must name at least one job handler, got ${describe(handlers)}.`,
      );
    }
    for (const name of this.#names) {
      const def = handlers[name];
      if (typeof def === 'function') continue;
      if (typeof def?.handle !== 'function' && typeof def?.handleMany !== 'function') {
        throw new InvalidOptionError(
          'handlers',
          `${WHERE}: handler ${JSON.stringify(name)} must be a function or { handle } / { handleMany }, got ${describe(def)}.`,
        );
      }
      if (def.maxBatch !== undefined) integerOption(WHERE, `${name}.maxBatch`, def.maxBatch);
      if (def.backoff !== undefined) this.#handlerBackoff.set(name, toBackoff(WHERE, def.backoff));
    }
    this.#clock = options.clock ?? systemClock;
    this.#concurrency = integerOption(WHERE, 'concurrency', options.concurrency ?? 10);
    this.#claimBatch = integerOption(WHERE, 'claimBatch', options.claimBatch ?? 100);
    this.#leaseMs = numberOption(WHERE, 'leaseMs', options.leaseMs ?? 8_000, {
      min: 0,
      exclusive: true,
    });
    this.#heartbeatMs = numberOption(
      WHERE,
      'heartbeatMs',
      options.heartbeatMs ?? Math.floor(this.#leaseMs / 4),
      { min: 0, max: this.#leaseMs, exclusive: true },
    );
    this.#pollMs = numberOption(WHERE, 'pollMs', options.pollMs ?? 1_000, {
      min: 0,
      exclusive: true,
    });
    this.#depthSampleMs = numberOption(WHERE, 'depthSampleMs', options.depthSampleMs ?? 5_000);
    this.#queues = options.queues;
    this.#weights = options.weights;
    this.#agingMs = options.agingMs;
    this.#backoff =
      options.backoff === undefined
        ? exponentialBackoff({ initialDelayMs: 1_000, maxDelayMs: 300_000 })
        : toBackoff(WHERE, options.backoff);
    this.workerId =
      options.workerId ?? `${hostname()}:${String(process.pid)}:${randomUUID().slice(0, 8)}`;
    if (options.autoStart !== false) this.start();
  }

  /** Starts claiming (done by the constructor unless `autoStart: false`). Idempotent. */
  start(): void {
    if (this.#state !== 'idle') return;
    this.#state = 'running';
    this.#startedAt = this.#clock.now();
    this.#subscription = this.#store.onEnqueued?.((e) => {
      // Queue '*' is a store's "anything may have changed" (e.g. after a reconnect).
      if (this.#queues !== undefined && e.queue !== '*' && !this.#queues.includes(e.queue)) return;
      if (e.runAt > this.#clock.now()) return;
      this.#wake();
    });
    this.#scheduleHeartbeat();
    if (this.#depthSampleMs > 0) this.#scheduleDepth();
    this.#pump();
  }

  /** Fires after a job succeeded. */
  onCompleted(listener: (event: JobCompletedEvent) => void): Subscription {
    return this.#onCompleted.add(listener);
  }
  /** Fires after an attempt failed (retry scheduled, or dead). */
  onFailed(listener: (event: JobFailedEvent) => void): Subscription {
    return this.#onFailed.add(listener);
  }
  /** Fires when a held job's lease was lost (reclaimed or cancelled) or its result refused. */
  onLeaseLost(listener: (event: LeaseLostEvent) => void): Subscription {
    return this.#onLeaseLost.add(listener);
  }
  /** Fires when a store call failed; the worker keeps going (retrying after `pollMs`). */
  onError(listener: (event: WorkerErrorEvent) => void): Subscription {
    return this.#onError.add(listener);
  }

  #error(error: unknown, during: WorkerErrorEvent['during']): void {
    if (this.#onError.active) this.#onError.emit({ error, during });
  }

  #wake(): void {
    this.#drained = false;
    if (this.#fetching) this.#wokenDuringFetch = true;
    this.#pump();
  }

  #pump(): void {
    if (this.#state !== 'running') return;
    while (this.#active < this.#concurrency && this.#buffer.length > 0) this.#dispatch();
    // Refill when half the buffer is used, but not while a batch of results
    // waits for its commit: a fast worker must not claim ahead of its commits.
    const uncommitted = this.#held.size - this.#buffer.length - this.#runningJobs;
    if (
      !this.#fetching &&
      !this.#drained &&
      this.#buffer.length <= this.#claimBatch / 2 &&
      uncommitted < this.#claimBatch
    ) {
      this.#fetchDone = this.#fetch();
    }
  }

  async #fetch(): Promise<void> {
    this.#fetching = true;
    this.#wokenDuringFetch = false;
    const limit = this.#claimBatch;
    let jobs: JobRecord[] = [];
    try {
      this.#claimCalls++;
      jobs = await this.#store.claim({
        workerId: this.workerId,
        limit,
        leaseMs: this.#leaseMs,
        names: this.#names,
        ...(this.#queues === undefined ? {} : { queues: this.#queues }),
        ...(this.#weights === undefined ? {} : { weights: this.#weights }),
        ...(this.#agingMs === undefined ? {} : { agingMs: this.#agingMs }),
      });
    } catch (error) {
      this.#error(error, 'claim');
      this.#drained = true;
    }
    this.#fetching = false;
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- #wake() may set it while the claim was awaited
    if (jobs.length < limit && !this.#wokenDuringFetch) this.#drained = true;
    if (jobs.length > 0) {
      this.#claimed += jobs.length;
      if (chClaimed.hasSubscribers)
        chClaimed.publish({ workerId: this.workerId, count: jobs.length });
      for (const job of jobs) {
        const held = new Held(job);
        // This worker reclaimed its own expired lease: the older attempt is superseded.
        const previous = this.#held.get(job.id);
        if (previous !== undefined) this.#lose(previous, undefined);
        this.#held.set(job.id, held);
        this.#buffer.push(held);
        this.#latency.add(Math.max(0, (job.startedAt ?? 0) - Math.max(job.createdAt, job.runAt)));
      }
    }
    if (this.#state !== 'running') {
      await this.#releaseBuffered();
      return;
    }
    if (this.#drained) this.#schedulePoll();
    this.#pump();
  }

  #schedulePoll(): void {
    if (this.#pollTimer !== undefined || this.#state !== 'running') return;
    // Not unref'd: a running worker is what keeps a worker process alive.
    this.#pollTimer = this.#clock.setTimer(
      () => {
        this.#pollTimer = undefined;
        this.#wake();
      },
      this.#pollMs,
      { unref: false },
    );
  }

  #scheduleHeartbeat(): void {
    this.#heartbeatTimer = this.#clock.setTimer(() => {
      void this.#heartbeat().finally(() => {
        if (this.#state === 'running' || this.#state === 'closing') this.#scheduleHeartbeat();
      });
    }, this.#heartbeatMs);
  }

  #scheduleDepth(): void {
    this.#depthTimer = this.#clock.setTimer(() => {
      void this.sampleDepth()
        .catch((error: unknown) => {
          this.#error(error, 'depth');
        })
        .finally(() => {
          if (this.#state === 'running') this.#scheduleDepth();
        });
    }, this.#depthSampleMs);
  }

  /** Reads the store counts now (also sampled every `depthSampleMs` into `stats().depth`). */
  async sampleDepth(): Promise<JobCounts> {
    const counts = await this.#store.counts(
      this.#queues?.length === 1 && this.#queues[0] !== undefined ? { queue: this.#queues[0] } : {},
    );
    this.#depth = counts;
    return counts;
  }

  async #heartbeat(): Promise<void> {
    const leases = [...this.#held.values()].filter((h) => !h.lost);
    if (leases.length === 0) return;
    try {
      const res = await this.#store.heartbeat(
        leases.map((h) => ({ id: h.job.id, epoch: h.job.epoch })),
        this.#leaseMs,
      );
      for (const refusal of res.refused) {
        const held = this.#held.get(refusal.id);
        if (held !== undefined && held.job.epoch === refusal.epoch) this.#lose(held, refusal);
      }
    } catch (error) {
      this.#error(error, 'heartbeat');
    }
  }

  #forget(held: Held): void {
    if (this.#held.get(held.job.id) === held) this.#held.delete(held.job.id);
  }

  #lose(held: Held, refusal: Refusal | undefined): void {
    if (held.lost) return;
    held.lost = true;
    this.#leaseLost++;
    held.abort(new LeaseLostError(held.job.id, held.job.epoch));
    const index = this.#buffer.indexOf(held);
    if (index !== -1) {
      this.#buffer.splice(index, 1);
      this.#forget(held);
    }
    if (chLeaseLost.hasSubscribers) {
      chLeaseLost.publish({ workerId: this.workerId, jobId: held.job.id, epoch: held.job.epoch });
    }
    if (this.#onLeaseLost.active) this.#onLeaseLost.emit({ job: held.job, refusal });
  }

  #context(held: Held): JobContext {
    return new Context(held, this.workerId, this.#stepFn);
  }

  /** `ctx.step`: memoized under the job, refused (lease lost) if the epoch moved on. */
  readonly #stepFn = async <T>(held: Held, name: string, fn: () => Promise<T> | T): Promise<T> => {
    const { job } = held;
    held.signal.throwIfAborted();
    const memo = await this.#store.getStep(job.id, name);
    if (memo.found) return memo.value as T;
    const value = await fn();
    const stored = await this.#store.putStep({ id: job.id, epoch: job.epoch, step: name, value });
    if (!stored) {
      this.#lose(held, undefined);
      throw new LeaseLostError(job.id, job.epoch);
    }
    return value;
  };

  #dispatch(): void {
    const first = this.#buffer.shift();
    if (first === undefined) return;
    const def = this.#handlers[first.job.name];
    if (def !== undefined && typeof def !== 'function' && def.handleMany !== undefined) {
      const max = def.maxBatch ?? this.#claimBatch;
      const batch = [first];
      for (let i = 0; i < this.#buffer.length && batch.length < max;) {
        const h = this.#buffer[i] as Held;
        if (h.job.name === first.job.name) {
          batch.push(h);
          this.#buffer.splice(i, 1);
        } else i++;
      }
      // Payloads are typed by the user's handler signature; the store hands back JSON.
      const many = def.handleMany.bind(def) as unknown as (
        jobs: readonly JobContext[],
      ) => Promise<readonly JobOutcome[]>;
      void this.#runMany(batch, many);
      return;
    }
    void this.#runOne(first);
  }

  async #runOne(held: Held): Promise<void> {
    this.#active++;
    this.#runningJobs++;
    const started = this.#clock.now();
    const def = this.#handlers[held.job.name];
    const handle = typeof def === 'function' ? def : def?.handle;
    try {
      if (handle === undefined) {
        throw new UnknownJobError(`No handler for job name ${JSON.stringify(held.job.name)}.`);
      }
      const run = handle as (payload: unknown, ctx: JobContext) => unknown;
      const result = await run(held.job.payload, this.#context(held));
      this.#settle(held, { ok: true, result }, this.#clock.now() - started);
    } catch (error) {
      this.#settle(held, { ok: false, error }, this.#clock.now() - started);
    } finally {
      this.#runningJobs--;
      this.#done();
    }
  }

  async #runMany(
    batch: Held[],
    handleMany: (jobs: readonly JobContext[]) => Promise<readonly JobOutcome[]>,
  ): Promise<void> {
    this.#active++;
    this.#runningJobs += batch.length;
    const started = this.#clock.now();
    try {
      const outcomes = await handleMany(batch.map((h) => this.#context(h)));
      const elapsed = this.#clock.now() - started;
      if (!Array.isArray(outcomes) || outcomes.length !== batch.length) {
        throw new TypeError(
          `handleMany() of ${JSON.stringify(batch[0]?.job.name)} must resolve with one outcome per job (${String(batch.length)}), got ${describe(outcomes)}.`,
        );
      }
      batch.forEach((h, i) => {
        this.#settle(h, outcomes[i] as JobOutcome, elapsed);
      });
    } catch (error) {
      const elapsed = this.#clock.now() - started;
      for (const h of batch) this.#settle(h, { ok: false, error }, elapsed);
    } finally {
      this.#runningJobs -= batch.length;
      this.#done();
    }
  }

  #done(): void {
    this.#active--;
    if (this.#active === 0) this.#idle?.();
    this.#pump();
  }

  #settle(held: Held, outcome: JobOutcome, durationMs: number): void {
    this.#runTime.add(durationMs);
    if (held.lost) {
      // The lease is gone: the store would refuse this result. Drop it.
      this.#forget(held);
      return;
    }
    if (outcome.ok) {
      let result: unknown = outcome.result ?? null;
      try {
        // What the store will hold (and what onCompleted reports): the JSON form.
        if (result !== null) result = JSON.parse(JSON.stringify(result)) as unknown;
      } catch (error) {
        this.#settle(held, { ok: false, error, retry: false }, durationMs);
        return;
      }
      this.#completions.push({
        held,
        input: { id: held.job.id, epoch: held.job.epoch, result },
        durationMs,
      });
    } else {
      const { job } = held;
      const backoff =
        job.backoff !== null
          ? backoffFromSpec(job.backoff)
          : (this.#handlerBackoff.get(job.name) ?? this.#backoff);
      const delay = Math.max(0, backoff.delayMs(job.attempts, 0));
      this.#failures.push({
        held,
        error: outcome.error,
        input: {
          id: job.id,
          epoch: job.epoch,
          error: errorText(outcome.error),
          retryAt: this.#clock.now() + Math.round(delay),
          ...(outcome.retry === false || NonRetryableError.is(outcome.error) ? { dead: true } : {}),
        },
      });
    }
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    // Results that finish in the same turn are committed together (group commit).
    setImmediate(() => {
      this.#flushScheduled = false;
      void this.#flush();
    });
  }

  /** Commits every buffered result; resolves when nothing is left to commit. */
  #flush(): Promise<void> {
    this.#flushing ??= this.#flushLoop().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async #flushLoop(): Promise<void> {
    while (this.#completions.length > 0 || this.#failures.length > 0) {
      const completions = this.#completions;
      const failures = this.#failures;
      this.#completions = [];
      this.#failures = [];
      this.#flushCalls++;
      let succeeded = 0;
      let refused = 0;
      let failed = 0;
      let dead = 0;
      try {
        if (completions.length > 0) {
          const res = await this.#store.complete(completions.map((c) => c.input));
          const accepted = new Set(res.accepted);
          for (const c of completions) {
            this.#forget(c.held);
            if (accepted.has(c.input.id)) {
              succeeded++;
              this.#countSuccess();
              if (this.#onCompleted.active) {
                this.#onCompleted.emit({
                  job: c.held.job,
                  result: c.input.result,
                  durationMs: c.durationMs,
                });
              }
            }
          }
          for (const r of res.refused) {
            refused++;
            const c = completions.find((x) => x.input.id === r.id);
            if (c !== undefined) this.#lose(c.held, r);
          }
        }
        if (failures.length > 0) {
          const res = await this.#store.fail(failures.map((f) => f.input));
          const deadIds = new Set(res.dead);
          const accepted = new Set(res.accepted);
          for (const f of failures) {
            this.#forget(f.held);
            if (!accepted.has(f.input.id)) continue;
            const isDead = deadIds.has(f.input.id);
            if (isDead) dead++;
            else failed++;
            if (this.#onFailed.active) {
              this.#onFailed.emit({ job: f.held.job, error: f.error, willRetry: !isDead });
            }
          }
          for (const r of res.refused) {
            refused++;
            const f = failures.find((x) => x.input.id === r.id);
            if (f !== undefined) this.#lose(f.held, r);
          }
        }
      } catch (error) {
        // The store call failed as a whole: keep the results and try again after pollMs.
        this.#error(error, 'flush');
        this.#completions.unshift(...completions);
        this.#failures.unshift(...failures);
        await new Promise<void>((resolve) => this.#clock.setTimer(resolve, this.#pollMs));
        if (this.#state === 'closed') return;
        continue;
      }
      this.#failed += failed;
      this.#dead += dead;
      this.#refused += refused;
      if (chSettled.hasSubscribers) {
        chSettled.publish({ workerId: this.workerId, succeeded, failed, dead, refused });
      }
      // A completion may unblock dependents or the next job of an ordered partition.
      if (succeeded > 0) this.#drained = false;
      this.#pump();
    }
  }

  #countSuccess(): void {
    this.#succeeded++;
    const second = Math.floor(this.#clock.now() / 1000);
    this.#perSecond.set(second, (this.#perSecond.get(second) ?? 0) + 1);
    if (this.#perSecond.size > 20) {
      for (const key of this.#perSecond.keys()) if (key < second - 10) this.#perSecond.delete(key);
    }
  }

  async #releaseBuffered(): Promise<void> {
    const buffered = this.#buffer.splice(0);
    if (buffered.length === 0) return;
    for (const h of buffered) this.#forget(h);
    try {
      await this.#store.release(buffered.map((h) => ({ id: h.job.id, epoch: h.job.epoch })));
    } catch (error) {
      this.#error(error, 'release');
    }
  }

  /** Counters, throughput, latencies and the last sampled depth. */
  stats(): WorkerStats {
    const now = this.#clock.now();
    const second = Math.floor(now / 1000);
    let recent = 0;
    for (const [key, n] of this.#perSecond) if (key > second - 10 && key <= second) recent += n;
    const windowSec = Math.min(10, Math.max(1, (now - this.#startedAt) / 1000));
    const outcomes = this.#succeeded + this.#failed + this.#dead;
    return {
      workerId: this.workerId,
      state: this.#state,
      running: this.#active,
      buffered: this.#buffer.length,
      claimed: this.#claimed,
      succeeded: this.#succeeded,
      failed: this.#failed,
      dead: this.#dead,
      refused: this.#refused,
      leaseLost: this.#leaseLost,
      claimCalls: this.#claimCalls,
      flushCalls: this.#flushCalls,
      throughputPerSec: recent / windowSec,
      successRate: outcomes === 0 ? 1 : this.#succeeded / outcomes,
      enqueueToStartMs: this.#latency.summary(),
      runMs: this.#runTime.summary(),
      depth: this.#depth,
    };
  }

  /**
   * Waits until nothing is buffered, running or waiting to be committed, and
   * the store has no ready job for this worker right now (useful in tests
   * and scripts). Does not stop the worker.
   */
  async drain(): Promise<void> {
    for (;;) {
      if (this.#state !== 'running') return;
      const busy =
        this.#active > 0 ||
        this.#buffer.length > 0 ||
        this.#fetching ||
        this.#completions.length > 0 ||
        this.#failures.length > 0 ||
        this.#flushing !== undefined ||
        this.#flushScheduled;
      if (!busy && this.#drained) return;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /**
   * Stops the worker. Graceful (default): stop claiming, hand back buffered
   * jobs, wait for running handlers, commit their results. Forced: abort
   * running handlers (`ctx.signal` → `ClosedError`) and hand their jobs back
   * too. Idempotent; a forced close may follow a graceful one in progress.
   */
  close(options: CloseOptions = {}): Promise<void> {
    if (options.force === true && this.#state === 'closing') this.#forceRunning();
    this.#closing ??= this.#close(options);
    return this.#closing;
  }

  #forceRunning(): void {
    const running = [...this.#held.values()].filter((h) => !this.#buffer.includes(h) && !h.lost);
    for (const h of running) {
      h.lost = true;
      h.abort(new ClosedError('The worker was closed with force.'));
    }
    void this.#store
      .release(running.map((h) => ({ id: h.job.id, epoch: h.job.epoch })))
      .catch((error: unknown) => {
        this.#error(error, 'release');
      });
  }

  async #close(options: CloseOptions): Promise<void> {
    const wasRunning = this.#state === 'running';
    this.#state = 'closing';
    this.#pollTimer?.cancel();
    this.#pollTimer = undefined;
    this.#depthTimer?.cancel();
    this.#subscription?.dispose();
    try {
      if (wasRunning) {
        await this.#fetchDone;
        await this.#releaseBuffered();
        if (options.force === true) this.#forceRunning();
        else if (this.#active > 0) {
          await new Promise<void>((resolve) => {
            this.#idle = resolve;
            const timeout = options.timeoutMs;
            if (timeout !== undefined && Number.isFinite(timeout)) {
              this.#clock.setTimer(() => {
                this.#forceRunning();
                resolve();
              }, timeout);
            }
          });
        }
        await this.#flush();
      }
    } finally {
      this.#heartbeatTimer?.cancel();
      this.#state = 'closed';
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
