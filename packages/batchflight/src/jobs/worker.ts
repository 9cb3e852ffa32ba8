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
 * 1.5 × `claimBatch` jobs are buffered. A claim does not wait for the commit
 * in flight: it is sent while at most 2 × `claimBatch` jobs are buffered or
 * uncommitted besides the running ones, so a worker holds at most
 * 3 × `claimBatch` + `concurrency` jobs (a running `handleMany` batch counts
 * all its jobs).
 *
 * Leases: every held job (running or buffered) is heartbeated every
 * `heartbeatMs`; a refused heartbeat means the lease was reclaimed or the job
 * cancelled: the job's `ctx.signal` aborts with `LeaseLostError` and its
 * result is dropped (the store would refuse it anyway). A dead worker's jobs
 * are reclaimed by the others once `leaseMs` passed: with the defaults
 * (lease 8 s, poll 1 s) within ~9 s.
 *
 * Files: the public types are in `worker-types.ts`, the checks of the
 * handlers and of the Worker's own options in `worker-options.ts`, a held
 * job, its context and the checks of handler results in `worker-run.ts`,
 * what a finished attempt becomes for the commit (and whether and when a
 * failure is retried) in `worker-settle.ts`, the
 * group commit (`Committer`: pending results, one flush in flight, retries,
 * isolation of a refused result) in `worker-commit.ts`, latency reservoirs,
 * the throughput window and the settled report in `worker-stats.ts`; claim,
 * leases, dispatch and settle stay in this class, which owns their state.
 *
 * Closing: only jobs that never started are handed back (`release`, no
 * attempt spent). A started job either finishes and is committed, or — on a
 * forced close — is abandoned with its lease, which expires since the
 * abandoned handler may still be running: the next claim logs the attempt
 * `expired` and counts it against `maxAttempts`.
 */
import {
  ClosedError,
  Listeners,
  eventChannel,
  knownOptions,
  numberOption,
  systemClock,
  type Clock,
  type Subscription,
  type Timer,
} from '../core/index.js';
import type { Backoff } from '../core/backoff.js';
import { LeaseLostError, UncommittedResultsError, UnknownJobError } from './errors.js';
import type { JobCounts, JobRecord, JobStore, Refusal, StepStore } from './store.js';
import { Periodic, PollTimer, leaseSettings, storeArgument } from './worker-kit.js';
import { Committer } from './worker-commit.js';
import { Context, Held, checkOutcomes, runStep, takeBatch, waitedMs } from './worker-run.js';
import { Reservoir, Throughput } from './worker-stats.js';
import { WORKER_OPTIONS, handlersArgument, workerSettings } from './worker-options.js';
import { DEFAULT_BACKOFF, retryDelayMs, settlement } from './worker-settle.js';
import type {
  CloseOptions,
  JobCompletedEvent,
  JobContext,
  JobFailedEvent,
  JobHandlers,
  JobOutcome,
  JobsDepthMessage,
  LeaseLostEvent,
  WorkerErrorEvent,
  WorkerOptions,
  WorkerStats,
} from './worker-types.js';

export type {
  CloseOptions,
  JobCompletedEvent,
  JobContext,
  JobDefinition,
  JobFailedEvent,
  JobHandler,
  JobHandlers,
  JobOutcome,
  JobsDepthMessage,
  JobsSettledMessage,
  LatencySummary,
  LeaseLostEvent,
  SettledJob,
  WorkerErrorEvent,
  WorkerOptions,
  WorkerStats,
} from './worker-types.js';

const WHERE = 'new Worker()';
const chClaimed = eventChannel<{ workerId: string; count: number }>('jobs', 'claimed');
const chDepth = eventChannel<JobsDepthMessage>('jobs', 'depth');
const chLeaseLost = eventChannel<{ workerId: string; jobId: string; epoch: number }>(
  'jobs',
  'lease-lost',
);

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
  readonly #store: JobStore & StepStore;
  readonly #handlers: JobHandlers;
  readonly #names: string[];
  readonly #clock: Clock;
  readonly #concurrency: number;
  readonly #claimBatch: number;
  readonly #leaseMs: number;
  readonly #pollMs: number;
  readonly #queues: readonly string[] | undefined;
  readonly #weights: Readonly<Record<string, number>> | undefined;
  readonly #agingMs: number | undefined;
  readonly #backoff: Backoff;
  readonly #handlerBackoff: ReadonlyMap<string, Backoff>;
  readonly #poll: PollTimer;
  readonly #renewal: Periodic;
  readonly #depthSampler: Periodic | undefined;

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
  /** The group commit of finished results. */
  readonly #committer: Committer;
  /** While closing: the last time a failed commit is retried; undefined: `leaseMs` after commits started failing. */
  #giveUpAt: number | undefined;
  #subscription: Subscription | undefined;
  #closing: Promise<void> | undefined;
  /** close() waiting for running handlers (or for the forced close that abandons them). */
  #idle: (() => void) | undefined;
  /** The running handlers were abandoned (forced close): close() does not wait for them. */
  #forced = false;
  /** drain() callers, woken by `#notify()`. */
  readonly #drainWaiters: (() => void)[] = [];

  #claimed = 0;
  #succeeded = 0;
  #failed = 0;
  #dead = 0;
  #refused = 0;
  #leaseLost = 0;
  #claimCalls = 0;
  readonly #latency = new Reservoir();
  readonly #runTime = new Reservoir();
  readonly #throughput = new Throughput();
  #startedAt = 0;
  #depth: JobCounts | undefined;

  readonly #onCompleted = new Listeners<JobCompletedEvent>();
  readonly #onFailed = new Listeners<JobFailedEvent>();
  readonly #onLeaseLost = new Listeners<LeaseLostEvent>();
  readonly #onError = new Listeners<WorkerErrorEvent>();

  constructor(store: JobStore & StepStore, handlers: JobHandlers, options: WorkerOptions = {}) {
    knownOptions(WHERE, options, WORKER_OPTIONS);
    this.#store = storeArgument<JobStore & StepStore>(WHERE, store, [
      'claim',
      'heartbeat',
      'complete',
      'fail',
    ]);
    this.#handlerBackoff = handlersArgument(WHERE, handlers);
    this.#handlers = handlers;
    this.#names = Object.keys(handlers);
    this.#clock = options.clock ?? systemClock;
    const settings = leaseSettings(WHERE, options, 10);
    this.#concurrency = settings.concurrency;
    this.#leaseMs = settings.leaseMs;
    this.#pollMs = settings.pollMs;
    const own = workerSettings(WHERE, options, DEFAULT_BACKOFF);
    this.#claimBatch = own.claimBatch;
    const depthSampleMs = own.depthSampleMs;
    this.#queues = own.queues;
    this.#weights = own.weights;
    this.#agingMs = own.agingMs;
    this.#backoff = own.backoff;
    this.workerId = settings.workerId;
    this.#poll = new PollTimer(this.#clock, this.#pollMs, () => {
      this.#wake();
    });
    this.#renewal = new Periodic(this.#clock, settings.heartbeatMs, () => this.#heartbeat());
    this.#depthSampler =
      depthSampleMs > 0
        ? new Periodic(this.#clock, depthSampleMs, () =>
            this.sampleDepth().then(
              () => undefined,
              (error: unknown) => {
                this.#error(error, 'depth');
              },
            ),
          )
        : undefined;
    this.#committer = new Committer({
      store: this.#store,
      clock: this.#clock,
      workerId: this.workerId,
      pollMs: this.#pollMs,
      leaseMs: this.#leaseMs,
      state: () => this.#state,
      giveUpAt: () => this.#giveUpAt,
      forget: (held) => {
        this.#forget(held);
      },
      lose: (held, refusal) => {
        this.#lose(held, refusal);
      },
      error: (error) => {
        this.#error(error, 'flush');
      },
      flushed: () => {
        this.#notify();
      },
      pump: () => {
        this.#pump();
      },
      succeeded: (c) => {
        this.#countSuccess();
        if (this.#onCompleted.active) {
          this.#onCompleted.emit({
            job: c.held.job,
            result: c.input.result,
            durationMs: c.durationMs,
          });
        }
      },
      failed: (f, dead) => {
        if (dead) this.#dead++;
        else this.#failed++;
        if (this.#onFailed.active) {
          this.#onFailed.emit({ job: f.held.job, error: f.error, willRetry: !dead });
        }
      },
      refused: () => {
        this.#refused++;
      },
      unblocked: () => {
        this.#drained = false;
      },
    });
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
    this.#renewal.start();
    this.#depthSampler?.start();
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
  /**
   * Fires when a store call failed (the worker keeps going, retrying after
   * `pollMs`) or a failed attempt's backoff broke its contract (`'settle'`:
   * the worker's default backoff is used instead).
   */
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
    // Refill when half the buffer is used, as long as at most 2 × claimBatch
    // jobs are held besides the running ones (buffered, or finished and
    // waiting for or in their commit), so never more than 3 × claimBatch +
    // the running ones. Not fewer: a commit in flight plus the finished batch
    // queued behind it is 2 × claimBatch in steady state, and the next claim
    // must overlap that commit instead of waiting for it (the worker sat idle
    // for a claim's round trip after every other commit).
    if (
      !this.#fetching &&
      !this.#drained &&
      this.#buffer.length <= this.#claimBatch / 2 &&
      this.#held.size - this.#runningJobs <= 2 * this.#claimBatch
    ) {
      this.#fetchDone = this.#fetch();
    }
  }

  /**
   * Wakes drain() callers once nothing is buffered, running, claimed or
   * waiting for its commit and the last claim found nothing — or once the
   * worker stopped running.
   */
  #notify(): void {
    if (this.#drainWaiters.length === 0) return;
    if (this.#state === 'running' && !(this.#drained && this.#quiet())) return;
    for (const resolve of this.#drainWaiters.splice(0)) resolve();
  }

  #quiet(): boolean {
    return (
      this.#active === 0 && this.#buffer.length === 0 && !this.#fetching && this.#committer.idle
    );
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
        this.#latency.add(waitedMs(job));
      }
    }
    if (this.#state !== 'running') {
      await this.#releaseBuffered();
      return;
    }
    if (this.#drained) this.#poll.arm();
    this.#pump();
    this.#notify();
  }

  /**
   * Reads the store counts now (also sampled every `depthSampleMs` into
   * `stats().depth` and published on `batchflight:jobs:depth`).
   */
  async sampleDepth(): Promise<JobCounts> {
    const queue = this.#queues?.length === 1 ? this.#queues[0] : undefined;
    const counts = await this.#store.counts(queue === undefined ? {} : { queue });
    this.#depth = counts;
    if (chDepth.hasSubscribers) chDepth.publish({ workerId: this.workerId, queue, counts });
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
    this.#notify();
  }

  #context(held: Held): JobContext {
    return new Context(held, this.workerId, this.#stepFn);
  }

  /** `ctx.step`: see {@link runStep}; a refused write loses the lease here. */
  readonly #stepFn = <T>(held: Held, name: string, fn: () => Promise<T> | T): Promise<T> =>
    runStep(this.#store, held, name, fn, () => {
      this.#lose(held, undefined);
    });

  #dispatch(): void {
    const first = this.#buffer.shift();
    if (first === undefined) return;
    const def = this.#handlers[first.job.name];
    if (def !== undefined && typeof def !== 'function' && def.handleMany !== undefined) {
      const batch = takeBatch(this.#buffer, first, def.maxBatch ?? this.#claimBatch);
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
    let outcomes: JobOutcome[];
    try {
      const value: unknown = await handleMany(batch.map((h) => this.#context(h)));
      outcomes = checkOutcomes((batch[0] as Held).job.name, batch.length, value, (error) => {
        this.#error(error, 'settle');
      });
    } catch (error) {
      outcomes = batch.map(() => ({ ok: false, error }));
    }
    try {
      const elapsed = this.#clock.now() - started;
      batch.forEach((h, i) => {
        this.#settle(h, outcomes[i] as JobOutcome, elapsed);
      });
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

  /** Queues a finished attempt's result for the next commit. Never throws: a job must not stay leased. */
  #settle(held: Held, outcome: JobOutcome, durationMs: number): void {
    held.settled = true;
    this.#runTime.add(durationMs);
    if (held.lost) {
      // The lease is gone: the store would refuse this result. Drop it.
      this.#forget(held);
      return;
    }
    const pending = settlement(held, outcome, durationMs, this.#clock, (job) =>
      this.#retryDelayMs(job),
    );
    if ('completion' in pending) this.#committer.addCompletion(pending.completion);
    else this.#committer.addFailure(pending.failure);
  }

  /** The retry delay of a failed attempt; see {@link retryDelayMs}. */
  #retryDelayMs(job: JobRecord): number {
    return retryDelayMs(job, this.#handlerBackoff.get(job.name), this.#backoff, (error) => {
      this.#error(error, 'settle');
    });
  }

  #countSuccess(): void {
    this.#succeeded++;
    this.#throughput.add(this.#clock.now());
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
      flushCalls: this.#committer.calls,
      throughputPerSec: this.#throughput.perSecond(this.#clock.now(), this.#startedAt),
      successRate: outcomes === 0 ? 1 : this.#succeeded / outcomes,
      enqueueToStartMs: this.#latency.summary(),
      runMs: this.#runTime.summary(),
      depth: this.#depth,
    };
  }

  /**
   * Resolves once nothing is buffered, running or waiting to be committed
   * and the last claim found no ready job for this worker (jobs that become
   * ready later are picked up by a wake-up or the next poll), or once the
   * worker is closing (useful in tests and scripts). Does not stop the
   * worker. Event-driven: nothing runs while it waits.
   */
  drain(): Promise<void> {
    if (this.#state !== 'running' || (this.#drained && this.#quiet())) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /**
   * Stops the worker.
   *
   * Graceful (default): stop claiming, hand back buffered jobs that never
   * started (`release`: no attempt spent, claimable at once), wait for the
   * running handlers and commit their results.
   *
   * Forced (`force: true`, or a graceful close still waiting after
   * `timeoutMs`): running handlers are aborted (`ctx.signal` with
   * `ClosedError`) and abandoned with their leases: the jobs are not handed
   * back, since an abandoned handler may still be running and must not race
   * a second run. Their leases expire (no heartbeat renews them) after at
   * most `leaseMs`; the next claim then logs the attempt as `expired` and
   * counts it, so a job that hangs on every attempt goes `dead` after
   * `maxAttempts`. Results that had already finished are committed.
   *
   * A commit the store keeps failing is retried until the close's deadline:
   * `timeoutMs`, once more for a forced close, or `leaseMs` of failed
   * attempts without a timeout; then close() rejects with
   * `UncommittedResultsError` (those jobs' leases expire and they are
   * retried). Idempotent; a forced close may follow a graceful one in
   * progress. The `timeoutMs` timer keeps the process alive until it fires.
   */
  async close(options: CloseOptions = {}): Promise<void> {
    knownOptions('worker.close()', options, ['force', 'timeoutMs']);
    const timeoutMs =
      options.timeoutMs === undefined
        ? Infinity
        : numberOption('worker.close()', 'timeoutMs', options.timeoutMs, { allowInfinity: true });
    if (options.force === true && this.#state === 'closing') this.#force();
    this.#closing ??= this.#close(options.force === true, timeoutMs);
    await this.#closing;
  }

  /**
   * Abandons the running handlers (their results are dropped, their leases
   * left to expire), stops waiting for them, and makes a failing commit try
   * once more now and then give up.
   */
  #force(): void {
    this.#forced = true;
    for (const h of this.#held.values()) {
      // Buffered jobs are released; finished ones are committed by the final flush.
      if (h.lost || h.settled || this.#buffer.includes(h)) continue;
      h.lost = true;
      h.abort(new ClosedError('The worker was closed with force.'));
    }
    this.#giveUpAt = Math.min(this.#giveUpAt ?? Infinity, this.#clock.now());
    this.#idle?.();
    this.#committer.retryNow();
  }

  async #close(force: boolean, timeoutMs: number): Promise<void> {
    const wasRunning = this.#state === 'running';
    this.#state = 'closing';
    if (Number.isFinite(timeoutMs)) this.#giveUpAt = this.#clock.now() + timeoutMs;
    this.#poll.cancel();
    this.#depthSampler?.stop();
    this.#subscription?.dispose();
    this.#notify();
    let deadline: Timer | undefined;
    try {
      if (wasRunning) {
        if (!force && Number.isFinite(timeoutMs)) {
          // Not unref'd: the forced close must happen even when nothing else keeps the process alive.
          deadline = this.#clock.setTimer(
            () => {
              this.#force();
            },
            timeoutMs,
            { unref: false },
          );
        }
        await this.#fetchDone;
        await this.#releaseBuffered();
        if (force) this.#force();
        else if (this.#active > 0 && !this.#forced) {
          await new Promise<void>((resolve) => {
            this.#idle = resolve;
          });
        }
        await this.#committer.flush();
        const left = this.#committer.takeUncommitted();
        if (left.length > 0) {
          for (const r of left) this.#forget(r.held);
          throw new UncommittedResultsError(left.length, this.#committer.lastError);
        }
      }
    } finally {
      deadline?.cancel();
      this.#renewal.stop();
      this.#state = 'closed';
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
