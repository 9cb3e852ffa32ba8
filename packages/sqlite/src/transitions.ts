/**
 * The storage primitives that the shared job and run state machine
 * (`transitions` of `batchflight/jobs`) runs on in this store: a job by its
 * key columns, a run by its seq, a chunk by its index, every change one
 * statement inside the caller's transaction.
 */
import { type AttemptOutcome, type JobState } from 'batchflight/jobs';
import { type JobChange, type JobMachine, type RunMachine } from 'batchflight/kit';
import type { SqliteConnection } from './connection.js';
import { toSeq, type JobKey } from './rows.js';
import {
  APPEND_ATTEMPT_INSERT_ATTEMPTS,
  CANCELLABLE_DEPENDENTS_SELECT_JOB_DEPS,
  COUNT_FAILURE_UPDATE_CHUNKS,
  COUNT_FAILURE_UPDATE_RUNS,
  ENDED_DEPENDENCY_SELECT_JOB_DEPS,
  FAIL_CHUNK_AND_RUN_UPDATE_CHUNKS,
  FAIL_CHUNK_AND_RUN_UPDATE_RUNS,
  FENCE_LEASED_CHUNKS_UPDATE_CHUNKS,
  HAND_BACK_UPDATE_CHUNKS,
  LOAD_SELECT_JOBS,
  RETRY_FAILED_CHUNKS_UPDATE_CHUNKS,
  SET_STATE_UPDATE_RUNS,
  WRITE_END,
  WRITE_RETRY,
  WRITE_RESET,
  SYNC_LEDGER_UPDATE_LEDGER,
} from './sql/generated.js';

/** Copies job `seq`'s state (and its result when succeeded) to its ledger entry. */
export function syncLedger(c: SqliteConnection, seq: number): void {
  c.stmt(SYNC_LEDGER_UPDATE_LEDGER).run(seq);
}

/** Appends the attempt log entry of job `seq`'s current attempt, ended with `outcome`. */
export function appendAttempt(
  c: SqliteConnection,
  seq: number,
  outcome: AttemptOutcome,
  error: string | null,
  now: number,
): void {
  c.stmt(APPEND_ATTEMPT_INSERT_ATTEMPTS).run(now, outcome, error, c.attemptPayloads ? 1 : 0, seq);
}

/** A dead or cancelled dependency of job `seq`, if any. */
export function endedDependency(
  c: SqliteConnection,
  seq: number,
): { depends_on: number; state: JobState } | undefined {
  return c.stmt(ENDED_DEPENDENCY_SELECT_JOB_DEPS).get(seq) as
    { depends_on: number; state: JobState } | undefined;
}

/** The storage primitives of the shared job state machine (`batchflight/jobs` transitions) on this store's rows. */
export function jobMachine(c: SqliteConnection): JobMachine<JobKey> {
  return {
    load: (id) => c.stmt(LOAD_SELECT_JOBS).get(toSeq(id)) as JobKey | undefined,
    id: (job) => String(job.seq),
    state: (job) => job.state,
    cancellableDependents: (job) =>
      c.stmt(CANCELLABLE_DEPENDENTS_SELECT_JOB_DEPS).all(job.seq) as JobKey[],
    endedDependency: (job) => {
      if (job.has_deps === 0) return undefined;
      const dep = endedDependency(c, job.seq);
      return dep === undefined ? undefined : { id: String(dep.depends_on), state: dep.state };
    },
    appendAttempt: (job, outcome, error, now) => {
      appendAttempt(c, job.seq, outcome, error, now);
    },
    write: (job, change, now) => {
      writeChange(c, job.seq, change, now);
    },
    // A job without a key has no ledger entry: no statement.
    syncLedger: (job) => {
      if (job.idempotency_key !== null) syncLedger(c, job.seq);
    },
  };
}

/** Writes a transition's change of fields (see `JobChange`) to job `seq`. */
function writeChange(c: SqliteConnection, seq: number, change: JobChange, now: number): void {
  switch (change.kind) {
    case 'end':
      c.stmt(WRITE_END).run(change.to, change.reason, now, seq, change.fence ? 1 : 0);
      return;
    case 'retry':
      c.stmt(WRITE_RETRY).run(change.error, change.runAt, now, seq, change.retryDelayMs);
      return;
    case 'reset':
      c.stmt(WRITE_RESET).run(change.runAt, change.resetAttempts ? 1 : 0, now, seq);
      return;
  }
}

/** The storage primitives of the shared run state machine on this store's rows (a run by seq, a chunk by index). */
export function runMachine(c: SqliteConnection): RunMachine<number, number> {
  return {
    setState: (id, from, to, now) => {
      const seq = toSeq(id);
      const changed =
        c.stmt(SET_STATE_UPDATE_RUNS).run(to, now, seq, JSON.stringify(from)).changes === 1;
      return changed ? seq : undefined;
    },
    handBack: (runSeq) => {
      c.stmt(HAND_BACK_UPDATE_CHUNKS).run(runSeq);
    },
    retryFailedChunks: (runSeq) => {
      c.stmt(RETRY_FAILED_CHUNKS_UPDATE_CHUNKS).run(runSeq);
    },
    fenceLeasedChunks: (runSeq) => {
      c.stmt(FENCE_LEASED_CHUNKS_UPDATE_CHUNKS).run(runSeq);
    },
    countFailure: (runSeq, idx, error, now) => {
      const { attempts } = c.stmt(COUNT_FAILURE_UPDATE_CHUNKS).get(runSeq, idx) as {
        attempts: number;
      };
      const { max } = c.stmt(COUNT_FAILURE_UPDATE_RUNS).get(error, now, runSeq) as { max: number };
      return { attempts, max };
    },
    failChunkAndRun: (runSeq, idx) => {
      c.stmt(FAIL_CHUNK_AND_RUN_UPDATE_CHUNKS).run(runSeq, idx);
      c.stmt(FAIL_CHUNK_AND_RUN_UPDATE_RUNS).run(runSeq);
    },
  };
}
