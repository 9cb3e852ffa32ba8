/**
 * The storage primitives that the shared job and run state machine
 * (`transitions` of `batchflight/jobs`) runs on in this store: a job by its
 * key columns, a run by its seq, a chunk by its index, every change one
 * statement inside the caller's transaction.
 */
import {
  type AttemptOutcome,
  type JobState,
  type JobChange,
  type JobMachine,
  type RunMachine,
} from 'batchflight/jobs';
import type { SqliteConnection } from './connection.js';
import { JOB_KEY, JOB_KEY_OF_J, toSeq, type JobKey } from './rows.js';

/** Copies job `seq`'s state (and its result when succeeded) to its ledger entry. */
export function syncLedger(c: SqliteConnection, seq: number): void {
  c.stmt(
    `UPDATE {p}ledger SET state = j.state, result = CASE WHEN j.state = 'succeeded' THEN j.result END
     FROM (SELECT queue, idempotency_key, state, result FROM {p}jobs WHERE seq = ?1 AND idempotency_key IS NOT NULL) AS j
     WHERE {p}ledger.queue = j.queue AND {p}ledger.key = j.idempotency_key AND {p}ledger.job_seq = ?1`,
  ).run(seq);
}

/** Appends the attempt log entry of job `seq`'s current attempt, ended with `outcome`. */
export function appendAttempt(
  c: SqliteConnection,
  seq: number,
  outcome: AttemptOutcome,
  error: string | null,
  now: number,
): void {
  c.stmt(
    `INSERT INTO {p}attempts (job_seq, queue, name, attempt, epoch, worker_id, started_at, ended_at, outcome, error, payload)
     SELECT seq, queue, name, attempts, epoch, COALESCE(lease_owner, ''), COALESCE(started_at, updated_at), ?, ?, ?,
       CASE WHEN ? THEN payload END
     FROM {p}jobs WHERE seq = ?`,
  ).run(now, outcome, error, c.attemptPayloads ? 1 : 0, seq);
}

/** A dead or cancelled dependency of job `seq`, if any. */
export function endedDependency(
  c: SqliteConnection,
  seq: number,
): { depends_on: number; state: JobState } | undefined {
  return c
    .stmt(
      `SELECT d.depends_on, dj.state FROM {p}job_deps d JOIN {p}jobs dj ON dj.seq = d.depends_on
     WHERE d.job_seq = ? AND dj.state IN ('dead','cancelled') LIMIT 1`,
    )
    .get(seq) as { depends_on: number; state: JobState } | undefined;
}

/** The storage primitives of the shared job state machine (`batchflight/jobs` transitions) on this store's rows. */
export function jobMachine(c: SqliteConnection): JobMachine<JobKey> {
  return {
    load: (id) =>
      c.stmt(`SELECT ${JOB_KEY} FROM {p}jobs WHERE seq = ?`).get(toSeq(id)) as JobKey | undefined,
    id: (job) => String(job.seq),
    state: (job) => job.state,
    cancellableDependents: (job) =>
      c
        .stmt(
          `SELECT ${JOB_KEY_OF_J} FROM {p}job_deps d INDEXED BY {p}job_deps_dependents JOIN {p}jobs j ON j.seq = d.job_seq
       WHERE d.depends_on = ? AND j.state IN ('pending','failed')`,
        )
        .all(job.seq) as JobKey[],
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
      c.stmt(
        `UPDATE {p}jobs SET state = ?1, last_error = COALESCE(?2, last_error), epoch = epoch + ?5,
           lease_owner = NULL, lease_expires_at = NULL, finished_at = ?3, updated_at = ?3 WHERE seq = ?4`,
      ).run(change.to, change.reason, now, seq, change.fence ? 1 : 0);
      return;
    case 'retry':
      c.stmt(
        `UPDATE {p}jobs SET state = 'failed', last_error = ?1, lease_owner = NULL, lease_expires_at = NULL,
           run_at = ?2, updated_at = ?3, retry_delay_ms = ?5 WHERE seq = ?4`,
      ).run(change.error, change.runAt, now, seq, change.retryDelayMs);
      return;
    case 'reset':
      c.stmt(
        `UPDATE {p}jobs SET state = 'pending', run_at = ?1, attempts = CASE WHEN ?2 THEN 0 ELSE attempts END,
           result = NULL, finished_at = NULL, updated_at = ?3, retry_delay_ms = 0 WHERE seq = ?4`,
      ).run(change.runAt, change.resetAttempts ? 1 : 0, now, seq);
      return;
  }
}

/** The storage primitives of the shared run state machine on this store's rows (a run by seq, a chunk by index). */
export function runMachine(c: SqliteConnection): RunMachine<number, number> {
  return {
    setState: (id, from, to, now) => {
      const seq = toSeq(id);
      const changed =
        c
          .stmt(
            `UPDATE {p}runs SET state = ?1, updated_at = ?2,
           finished_at = CASE WHEN ?1 = 'cancelled' THEN ?2 ELSE finished_at END
         WHERE seq = ?3 AND state IN (SELECT value FROM json_each(?4))`,
          )
          .run(to, now, seq, JSON.stringify(from)).changes === 1;
      return changed ? seq : undefined;
    },
    handBack: (runSeq) => {
      c.stmt(
        `UPDATE {p}chunks SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL
       WHERE run_seq = ? AND state = 'leased'`,
      ).run(runSeq);
    },
    retryFailedChunks: (runSeq) => {
      c.stmt(
        `UPDATE {p}chunks SET state = 'pending', attempts = 0, not_before = 0
       WHERE run_seq = ? AND state = 'failed'`,
      ).run(runSeq);
    },
    fenceLeasedChunks: (runSeq) => {
      c.stmt(`UPDATE {p}chunks SET epoch = epoch + 1 WHERE run_seq = ? AND state = 'leased'`).run(
        runSeq,
      );
    },
    countFailure: (runSeq, idx, error, now) => {
      const { attempts } = c
        .stmt(
          'UPDATE {p}chunks SET attempts = attempts + 1 WHERE run_seq = ? AND idx = ? RETURNING attempts',
        )
        .get(runSeq, idx) as { attempts: number };
      const { max } = c
        .stmt(
          `UPDATE {p}runs SET last_error = ?1, updated_at = ?2 WHERE seq = ?3 RETURNING max_chunk_attempts AS max`,
        )
        .get(error, now, runSeq) as { max: number };
      return { attempts, max };
    },
    failChunkAndRun: (runSeq, idx) => {
      c.stmt(`UPDATE {p}chunks SET state = 'failed' WHERE run_seq = ? AND idx = ?`).run(
        runSeq,
        idx,
      );
      c.stmt(`UPDATE {p}runs SET state = 'failed' WHERE seq = ?`).run(runSeq);
    },
  };
}
