/**
 * What the parts of the store share: the connection, the clock, the wake-ups,
 * the hooks, and how rows read back become records.
 */
import type pg from 'pg';
import type { Clock } from 'batchflight/core';
import type {
  AcceptedCheckpoint,
  BackoffSpec,
  CompletedJob,
  JobRecord,
  JobState,
} from 'batchflight/jobs';
import type { PgConnection } from './connection.js';
import type { Notifier } from './notify.js';

/** The shared state of one `PostgresJobStore`, handed to each of its parts. */
export interface StoreContext {
  readonly conn: PgConnection;
  readonly clock: Clock;
  readonly notifier: Notifier;
  /** Whether attempts copy the job's payload (`attemptPayloads`). */
  readonly attemptPayloads: boolean;
  readonly onComplete:
    | ((client: pg.PoolClient, completed: readonly CompletedJob[]) => Promise<void> | void)
    | undefined;
  readonly onCheckpoint:
    ((client: pg.PoolClient, checkpoint: AcceptedCheckpoint) => Promise<void> | void) | undefined;
  /** Resolves once the schema is migrated; rejects when the store is closed. */
  readonly ready: () => Promise<void>;
}

/** A job row as the driver returns it (bigint columns as text). */
export interface JobRow {
  seq: string;
  queue: string;
  name: string;
  payload: unknown;
  state: JobState;
  idempotency_key: string | null;
  partition_key: string | null;
  partition: number | null;
  ordered: boolean;
  priority: string;
  run_at: string;
  has_deps: boolean;
  deps: string[] | null;
  attempts: number;
  max_attempts: number;
  backoff: BackoffSpec | null;
  epoch: string;
  lease_owner: string | null;
  lease_expires_at: string | null;
  started_at: string | null;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
  result: unknown;
  last_error: string | null;
  retry_delay_ms: string;
}

/** One input row of a compare-and-set, accepted or not (with the job's current state). */
export interface SettleRow {
  ord: string;
  seq: string;
  epoch: string;
  ok: boolean;
  state: JobState | null;
  cur: string | null;
}

/** A job id as a bigint parameter; a malformed id as -1 (matches no row). */
export const toSeq = (id: string): string => (/^[1-9][0-9]{0,17}$/.test(id) ? id : '-1');
/** A nullable bigint column as a number. */
export const num = (v: string | number | null): number | null => (v === null ? null : Number(v));
/** A value as JSON text (`undefined` as null). */
export const json = (v: unknown): string => JSON.stringify(v ?? null);

/** A job row as the contract's frozen record. */
export function toRecord(row: JobRow): JobRecord {
  return Object.freeze({
    id: row.seq,
    queue: row.queue,
    name: row.name,
    payload: row.payload,
    state: row.state,
    seq: Number(row.seq),
    idempotencyKey: row.idempotency_key,
    partitionKey: row.partition_key,
    partition: row.partition,
    ordered: row.ordered,
    priority: Number(row.priority),
    runAt: Number(row.run_at),
    dependsOn: row.deps ?? [],
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    backoff: row.backoff,
    epoch: Number(row.epoch),
    // A succeeded row keeps its last lease holder (see complete): shown only while leased.
    leaseOwner: row.state === 'leased' ? row.lease_owner : null,
    leaseExpiresAt: num(row.lease_expires_at),
    startedAt: num(row.started_at),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    finishedAt: num(row.finished_at),
    // SQL NULL and JSON null both read as null: only a succeeded job has a result.
    result: row.state === 'succeeded' ? row.result : undefined,
    lastError: row.last_error,
    retryDelayMs: Number(row.retry_delay_ms),
  });
}
