/**
 * The rows of the SQLite store's tables as the TypeScript side reads them,
 * a job row turned into a `JobRecord`, and the SQL pieces several parts of
 * the store share.
 */
import { type BackoffSpec, type JobRecord, type JobState, type RunState } from 'batchflight/jobs';
import { DEPENDENCY_FAILED_STATES } from 'batchflight/kit';
import type { SqliteConnection } from './connection.js';
import { DEPS_SELECT_JOB_DEPS, JOB_ROW_SELECT_JOBS } from './sql/generated.js';

/** A row of `<prefix>jobs`. */
export interface JobRow {
  seq: number;
  queue: string;
  name: string;
  payload: string;
  state: JobState;
  idempotency_key: string | null;
  partition_key: string | null;
  partition: number | null;
  ordered: number;
  priority: number;
  run_at: number;
  has_deps: number;
  attempts: number;
  max_attempts: number;
  backoff: string | null;
  epoch: number;
  lease_owner: string | null;
  lease_expires_at: number | null;
  started_at: number | null;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
  result: string | null;
  last_error: string | null;
  retry_delay_ms: number;
}

/** A row of `<prefix>runs`. */
export interface RunRow {
  seq: number;
  name: string;
  input: string;
  state: RunState;
  total: number;
  chunk_size: number;
  chunks: number;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
  last_error: string | null;
}

/** A row of `<prefix>chunks` (the columns a claim and a checkpoint read). */
export interface ChunkRow {
  run_seq: number;
  idx: number;
  start: number;
  end_at: number;
  offset_at: number;
  state: string;
  epoch: number;
}

/** The columns of a job row, in the order of raw (array) reads. */
export const JOB_COLUMNS = [
  'seq',
  'queue',
  'name',
  'payload',
  'state',
  'idempotency_key',
  'partition_key',
  'partition',
  'ordered',
  'priority',
  'run_at',
  'has_deps',
  'attempts',
  'max_attempts',
  'backoff',
  'epoch',
  'lease_owner',
  'lease_expires_at',
  'started_at',
  'created_at',
  'updated_at',
  'finished_at',
  'result',
  'last_error',
  'retry_delay_ms',
] as const satisfies readonly (keyof JobRow)[];

/** What the job state machine loads of a job: its key, state and what its transitions consult. */
export interface JobKey {
  readonly seq: number;
  readonly state: JobState;
  readonly queue: string;
  readonly has_deps: number;
  readonly idempotency_key: string | null;
}

/** A job row from a raw (array-mode) read of {@link JOB_COLUMNS}. */
export function fromRaw(values: unknown[]): JobRow {
  const row: Record<string, unknown> = {};
  JOB_COLUMNS.forEach((column, i) => {
    row[column] = values[i];
  });
  return row as unknown as JobRow;
}

/** A stored JSON text as a value; NULL as undefined. */
export const parse = (text: string | null): unknown =>
  text === null ? undefined : JSON.parse(text);
/** A job or run id as its seq; -1 (no row) for a string that is not one. */
export const toSeq = (id: string): number => (/^[1-9][0-9]{0,15}$/.test(id) ? Number(id) : -1);
/** True for a dependency state that cancels its dependents (dead, cancelled). */
export const isEnded = (state: JobState | undefined): boolean =>
  state !== undefined && DEPENDENCY_FAILED_STATES.includes(state);

/** The ids of the jobs job `seq` depends on, in id order. */
export function deps(c: SqliteConnection, seq: number): string[] {
  const rows = c.stmt(DEPS_SELECT_JOB_DEPS).all(seq) as { depends_on: number }[];
  return rows.map((r) => String(r.depends_on));
}

/** A job row as a frozen `JobRecord`. */
export function toRecord(c: SqliteConnection, row: JobRow): JobRecord {
  return Object.freeze({
    id: String(row.seq),
    queue: row.queue,
    name: row.name,
    payload: JSON.parse(row.payload) as unknown,
    state: row.state,
    seq: row.seq,
    idempotencyKey: row.idempotency_key,
    partitionKey: row.partition_key,
    partition: row.partition,
    ordered: row.ordered === 1,
    priority: row.priority,
    runAt: row.run_at,
    dependsOn: row.has_deps === 1 ? deps(c, row.seq) : [],
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    backoff: row.backoff === null ? null : (JSON.parse(row.backoff) as BackoffSpec),
    epoch: row.epoch,
    leaseOwner: row.lease_owner,
    leaseExpiresAt: row.lease_expires_at,
    startedAt: row.started_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
    result: parse(row.result),
    lastError: row.last_error,
    retryDelayMs: row.retry_delay_ms,
  });
}

/** Job `seq`'s row, if there is one. */
export function jobRow(c: SqliteConnection, seq: number): JobRow | undefined {
  return c.stmt(JOB_ROW_SELECT_JOBS).get(seq) as JobRow | undefined;
}
