/**
 * The job and run state machine, written once for every store that holds
 * its state itself (memory, SQLite): which transitions a call makes, in
 * which order, what is logged and what cascades. A store supplies the
 * storage primitives (load a job, write a change, append to the attempt
 * log, sync the ledger, find dependents) over its own handle of a job or a
 * run — a mutable record in memory, a row key in SQLite — and runs these
 * functions inside its own transaction. (The PostgreSQL store does the same
 * transitions in set-based SQL, a statement per call, and does not use this
 * module.)
 */
import type {
  AttemptOutcome,
  FailInput,
  JobState,
  LeaseRef,
  Refusal,
  RequeueOptions,
  RunState,
} from './store.js';
import { dependencyEndedError } from './store-kit.js';

/** A job's `(state, epoch)` as a store read it, to tell a lease holder why it was refused. */
export interface LeaseState {
  readonly state: JobState;
  readonly epoch: number;
}

/**
 * Why `ref` does not hold its job's lease (compare-and-set on id, epoch and
 * `state = 'leased'`), or undefined when it does. `current` is the job as
 * read, undefined when there is no such job.
 */
export function leaseRefusal(ref: LeaseRef, current: LeaseState | undefined): Refusal | undefined {
  if (current === undefined) return { id: ref.id, epoch: ref.epoch, reason: 'not-found' };
  if (current.epoch === ref.epoch && current.state === 'leased') return undefined;
  return {
    id: ref.id,
    epoch: ref.epoch,
    reason: current.epoch !== ref.epoch ? 'stale-epoch' : 'not-leased',
    state: current.state,
    currentEpoch: current.epoch,
  };
}

/**
 * A change of a job's stored fields, as one transition makes it; `now` (the
 * store's clock) is handed beside it and stamps `updatedAt`.
 *
 * - `end`: to `dead` or `cancelled`; the lease is cleared, `finishedAt` set,
 *   `lastError` set to `reason` unless it is null; `fence` bumps the epoch
 *   (a leased job: its holder is refused from now on).
 * - `retry`: to `failed`, due again at `runAt`; the lease is cleared and
 *   `retryDelayMs` kept for the next backoff.
 * - `reset`: to `pending` at `runAt` (requeue): result, `finishedAt` and
 *   `retryDelayMs` cleared, attempts to 0 when `resetAttempts`.
 */
export type JobChange =
  | {
      readonly kind: 'end';
      readonly to: 'dead' | 'cancelled';
      readonly reason: string | null;
      readonly fence: boolean;
    }
  | {
      readonly kind: 'retry';
      readonly error: string;
      readonly runAt: number;
      readonly retryDelayMs: number;
    }
  | { readonly kind: 'reset'; readonly runAt: number; readonly resetAttempts: boolean };

/** The dependency that ended a job's chances: its id and the state it ended in. */
export interface EndedDependency {
  readonly id: string;
  readonly state: JobState;
}

/** A store's storage primitives over its handle `J` of one job, inside its transaction. */
export interface JobMachine<J> {
  /** The job `id`, or undefined when there is none. */
  load(id: string): J | undefined;
  /** The id of a loaded job. */
  id(job: J): string;
  /** The state of a loaded job, as loaded. */
  state(job: J): JobState;
  /** The `pending` and `failed` jobs that depend on `job` (the ones its end cancels). */
  cancellableDependents(job: J): Iterable<J>;
  /** A dependency of `job` that ended dead or cancelled, if any. */
  endedDependency(job: J): EndedDependency | undefined;
  /** Appends the attempt log entry of `job`'s current attempt, ended with `outcome`. */
  appendAttempt(job: J, outcome: AttemptOutcome, error: string | null, now: number): void;
  /** Writes `change` to `job` (and to the handle, when it is a record). */
  write(job: J, change: JobChange, now: number): void;
  /** Copies `job`'s state (and its result when succeeded) to its idempotency ledger entry. */
  syncLedger(job: J): void;
}

const TERMINAL: ReadonlySet<JobState> = new Set(['succeeded', 'dead', 'cancelled']);
const REQUEUEABLE: ReadonlySet<JobState> = new Set(['dead', 'failed', 'cancelled']);

/** Cancels `job` because its dependency `dep` ended dead or cancelled (logged as a cancelled attempt). */
export function cancelDependent<J>(
  m: JobMachine<J>,
  job: J,
  dep: EndedDependency,
  now: number,
): void {
  const error = dependencyEndedError(dep.id, dep.state);
  m.appendAttempt(job, 'cancelled', error, now);
  m.write(job, { kind: 'end', to: 'cancelled', reason: error, fence: false }, now);
  m.syncLedger(job);
}

/**
 * `ended` went dead or cancelled (`state`): its pending and failed
 * dependents are cancelled, and theirs, transitively. A leased dependent
 * was claimed when its dependencies had succeeded (a replay may have reset
 * one since); it is left to finish.
 */
export function cascade<J>(m: JobMachine<J>, ended: J, state: JobState, now: number): void {
  const todo: [J, JobState][] = [[ended, state]];
  for (let next = todo.pop(); next !== undefined; next = todo.pop()) {
    const [parent, parentState] = next;
    const dep = { id: m.id(parent), state: parentState };
    // Collected first: cancelling a child changes what a lazy query would return.
    for (const child of [...m.cancellableDependents(parent)]) {
      cancelDependent(m, child, dep, now);
      todo.push([child, 'cancelled']);
    }
  }
}

/**
 * `deadLetter` and `cancel`: every non-terminal job of `ids` (each once) to
 * `to`. A leased one has its attempt logged and its epoch bumped (its holder
 * is fenced); the ledger follows; dependents are cancelled. Returns the ids
 * moved, in input order.
 */
export function terminate<J>(
  m: JobMachine<J>,
  ids: readonly string[],
  to: 'dead' | 'cancelled',
  reason: string | null,
  now: number,
): string[] {
  const moved: string[] = [];
  for (const id of new Set(ids)) {
    const job = m.load(id);
    if (job === undefined || TERMINAL.has(m.state(job))) continue;
    const leased = m.state(job) === 'leased';
    if (leased) m.appendAttempt(job, to, reason, now);
    m.write(job, { kind: 'end', to, reason, fence: leased }, now);
    m.syncLedger(job);
    cascade(m, job, to, now);
    moved.push(id);
  }
  return moved;
}

/**
 * One accepted `fail` of a leased job (its compare-and-set passed):
 * `dead` when the failure says so or `exhausted` (its attempts reached its
 * maximum), else `failed` and due at `retryAt`. Logged, ledger synced, and
 * a dead job's dependents cancelled. `error` is the storable error text.
 */
export function failLeased<J>(
  m: JobMachine<J>,
  job: J,
  failure: FailInput,
  error: string,
  exhausted: boolean,
  now: number,
): 'dead' | 'retrying' {
  const toDead = failure.dead === true || exhausted;
  m.appendAttempt(job, toDead ? 'dead' : 'failed', error, now);
  m.write(
    job,
    toDead
      ? { kind: 'end', to: 'dead', reason: error, fence: false }
      : {
          kind: 'retry',
          error,
          runAt: Math.floor(failure.retryAt ?? now),
          retryDelayMs: retryDelay(failure.delayMs),
        },
    now,
  );
  m.syncLedger(job);
  if (toDead) cascade(m, job, 'dead', now);
  return toDead ? 'dead' : 'retrying';
}

/**
 * A claim found `job`'s lease expired with its attempts exhausted: the crash
 * may be the job's own fault, so it dies (logged `expired`), the ledger
 * follows and its dependents are cancelled.
 */
export function expireExhausted<J>(m: JobMachine<J>, job: J, now: number): void {
  m.appendAttempt(job, 'expired', 'lease expired', now);
  m.write(
    job,
    { kind: 'end', to: 'dead', reason: 'lease expired after the last attempt', fence: false },
    now,
  );
  m.syncLedger(job);
  cascade(m, job, 'dead', now);
}

/**
 * `requeue`: every `dead`, `failed` or `cancelled` job of `ids` (each once)
 * back to `pending`, unless a dependency of it ended dead or cancelled
 * (requeue that one first). Memoized steps are kept. Returns the jobs moved,
 * in input order.
 */
export function requeueJobs<J>(
  m: JobMachine<J>,
  ids: readonly string[],
  options: RequeueOptions,
  now: number,
): J[] {
  const moved: J[] = [];
  for (const id of new Set(ids)) {
    const job = m.load(id);
    if (job === undefined || !REQUEUEABLE.has(m.state(job))) continue;
    if (m.endedDependency(job) !== undefined) continue;
    resetJob(m, job, options.runAt ?? now, options.resetAttempts ?? true, now);
    moved.push(job);
  }
  return moved;
}

/** Back to `pending` at `runAt` (requeue, replay), the ledger following. */
export function resetJob<J>(
  m: JobMachine<J>,
  job: J,
  runAt: number,
  resetAttempts: boolean,
  now: number,
): void {
  m.write(job, { kind: 'reset', runAt: Math.floor(runAt), resetAttempts }, now);
  m.syncLedger(job);
}

/** `FailInput.delayMs` as kept in `retryDelayMs`: rounded to an integer, 0 when absent or not a non-negative number. */
export function retryDelay(ms: unknown): number {
  return typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 ? Math.round(ms) : 0;
}

/** A store's storage primitives over its handles `R` of a run and `C` of a chunk. */
export interface RunMachine<R, C> {
  /**
   * Moves run `id` from one of `from` to `to` (compare-and-set), stamping
   * `updatedAt` (and `finishedAt` when cancelled); the run, or undefined
   * when there is none or its state is not in `from`.
   */
  setState(id: string, from: readonly RunState[], to: RunState, now: number): R | undefined;
  /** Every leased chunk of `run` back to `pending` at its checkpoint, its lease cleared. */
  handBack(run: R): void;
  /** Every failed chunk of `run` back to `pending`, claimable at once, with 0 attempts. */
  retryFailedChunks(run: R): void;
  /** Bumps the epoch of every leased chunk of `run`: its holders are refused from now on. */
  fenceLeasedChunks(run: R): void;
  /**
   * Counts a failed attempt of `chunk` and records `error` as the run's last
   * error; the chunk's attempts now, and the run's `maxChunkAttempts`.
   */
  countFailure(
    run: R,
    chunk: C,
    error: string,
    now: number,
  ): { readonly attempts: number; readonly max: number };
  /** `chunk` and `run` to `failed`. */
  failChunkAndRun(run: R, chunk: C): void;
}

/**
 * Counts a failed attempt of a chunk. At the run's `maxChunkAttempts` the
 * chunk and the run fail (the run's other leased chunks are handed back)
 * and it returns true; otherwise false (the caller hands the chunk back).
 */
export function chunkFailed<R, C>(
  m: RunMachine<R, C>,
  run: R,
  chunk: C,
  error: string,
  now: number,
): boolean {
  const { attempts, max } = m.countFailure(run, chunk, error, now);
  if (attempts < max) return false;
  m.handBack(run);
  m.failChunkAndRun(run, chunk);
  return true;
}

/**
 * `pauseRun` (`running → paused`, leased chunks handed back), `resumeRun`
 * (`paused | failed → running`, failed chunks claimable again with a fresh
 * attempt count) and `cancelRun` (`→ cancelled`, leased chunks fenced).
 * False when the run does not exist or is not in one of `from`.
 */
export function transitionRun<R, C>(
  m: RunMachine<R, C>,
  id: string,
  from: readonly RunState[],
  to: RunState,
  now: number,
): boolean {
  const run = m.setState(id, from, to, now);
  if (run === undefined) return false;
  if (to === 'paused') m.handBack(run);
  // Only a failed run has failed chunks: resuming a paused one finds none.
  if (to === 'running') m.retryFailedChunks(run);
  if (to === 'cancelled') m.fenceLeasedChunks(run);
  return true;
}

/** The `from` states of each run transition, for {@link transitionRun}. */
export const RUN_TRANSITIONS = {
  pause: { from: ['running'], to: 'paused' },
  resume: { from: ['paused', 'failed'], to: 'running' },
  cancel: { from: ['running', 'paused', 'failed'], to: 'cancelled' },
} as const satisfies Record<string, { from: readonly RunState[]; to: RunState }>;
