/**
 * Operator actions and reads of the PostgreSQL store: get, query, counts, the
 * attempt log; dead-letter, cancel, requeue, replay, purge (`sql/admin.sql`).
 */
import {
  type AttemptOutcome,
  type AttemptQuery,
  type AttemptRecord,
  type JobCounts,
  type JobQuery,
  type JobRecord,
  type JobState,
  type PurgeOptions,
  type ReplayOptions,
  type RequeueOptions,
} from 'batchflight/jobs';
import { checkId, checkPurge, checkReplay, storableText, zeroCounts } from 'batchflight/kit';
import { toRecord, toSeq, type JobRow, type StoreContext } from './context.js';
import {
  ATTEMPTS,
  COUNT_JOBS,
  GET_JOB,
  OLDEST_READY,
  PURGE,
  QUERY_JOBS,
  REPLAY,
  REPLAY_SELECT,
  REQUEUE,
  TERMINATE,
} from './sql/generated.js';

interface AttemptRow {
  job_seq: string;
  queue: string;
  name: string;
  attempt: number;
  epoch: string;
  worker_id: string;
  started_at: string;
  ended_at: string;
  outcome: AttemptOutcome;
  error: string | null;
  payload: unknown;
  recorded: boolean;
}

/** The ids of `ids` (first occurrences, in order) that are among `moved`. */
const movedOf = (ids: readonly string[], moved: readonly { seq: string }[]): string[] => {
  const set = new Set(moved.map((r) => r.seq));
  return ids.filter((id) => set.has(id));
};

/** The operator side of one store. */
export class PgAdmin {
  readonly #ctx: StoreContext;

  /** The operator statements of the store `ctx` belongs to. */
  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  /** `JobStore.get`. */
  async get(id: string): Promise<JobRecord | undefined> {
    checkId('get', id);
    await this.#ctx.ready();
    const [row] = await this.#ctx.conn.q<JobRow>(GET_JOB, [toSeq(id)]);
    return row === undefined ? undefined : toRecord(row);
  }

  /** `JobStore.query`. */
  async query(filter: JobQuery = {}): Promise<JobRecord[]> {
    await this.#ctx.ready();
    const states =
      filter.state === undefined
        ? null
        : typeof filter.state === 'string'
          ? [filter.state]
          : filter.state;
    const rows = await this.#ctx.conn.q<JobRow>(QUERY_JOBS, [
      filter.queue ?? null,
      filter.name ?? null,
      states,
      filter.partitionKey ?? null,
      filter.partition ?? null,
      filter.afterSeq ?? 0,
      filter.limit ?? 100,
    ]);
    return rows.map(toRecord);
  }

  /** `JobStore.counts`. */
  async counts(filter: { readonly queue?: string } = {}): Promise<JobCounts> {
    const { conn, clock } = this.#ctx;
    await this.#ctx.ready();
    const now = clock.now();
    const queue = filter.queue ?? null;
    const [rows, oldest] = await Promise.all([
      conn.q<{ queue: string; partition: number | null; state: JobState; n: number }>(COUNT_JOBS, [
        queue,
      ]),
      conn.q<{ t: string | null }>(OLDEST_READY, [now, queue]),
    ]);
    const byState = zeroCounts();
    const byQueue: Record<string, Record<JobState, number>> = {};
    const byPartition: Record<string, Record<JobState, number>> = {};
    for (const r of rows) {
      byState[r.state] += r.n;
      (byQueue[r.queue] ??= zeroCounts())[r.state] += r.n;
      (byPartition[r.partition === null ? 'none' : String(r.partition)] ??= zeroCounts())[
        r.state
      ] += r.n;
    }
    const t = oldest[0]?.t ?? null;
    return { byState, byQueue, byPartition, oldestReadyAgeMs: t === null ? 0 : now - Number(t) };
  }

  /** `JobStore.attempts`. */
  async attempts(filter: AttemptQuery = {}): Promise<AttemptRecord[]> {
    await this.#ctx.ready();
    const rows = await this.#ctx.conn.q<AttemptRow>(ATTEMPTS, [
      filter.jobId === undefined ? null : toSeq(filter.jobId),
      filter.since ?? null,
      filter.limit ?? 1000,
    ]);
    return rows.map((r) =>
      Object.freeze({
        jobId: r.job_seq,
        queue: r.queue,
        name: r.name,
        attempt: r.attempt,
        epoch: Number(r.epoch),
        workerId: r.worker_id,
        startedAt: Number(r.started_at),
        endedAt: Number(r.ended_at),
        outcome: r.outcome,
        error: r.error,
        // SQL NULL: not recorded (a recorded JSON null payload is the jsonb 'null').
        ...(r.recorded ? { payload: r.payload } : {}),
      }),
    );
  }

  async #terminate(
    ids: readonly string[],
    to: 'dead' | 'cancelled',
    reason: string | null,
  ): Promise<string[]> {
    await this.#ctx.ready();
    const unique = [...new Set(ids)];
    if (unique.length === 0) return [];
    const rows = await this.#ctx.conn.q<{ seq: string }>(TERMINATE, [
      unique.map(toSeq),
      to,
      reason,
      this.#ctx.clock.now(),
      this.#ctx.attemptPayloads,
    ]);
    return movedOf(unique, rows);
  }

  /** `JobStore.deadLetter`. */
  deadLetter(ids: readonly string[], reason: string): Promise<string[]> {
    return this.#terminate(ids, 'dead', storableText(reason));
  }

  /** `JobStore.cancel`. */
  cancel(ids: readonly string[]): Promise<string[]> {
    return this.#terminate(ids, 'cancelled', null);
  }

  /** `JobStore.requeue`. */
  async requeue(ids: readonly string[], options: RequeueOptions = {}): Promise<string[]> {
    await this.#ctx.ready();
    const unique = [...new Set(ids)];
    if (unique.length === 0) return [];
    const now = this.#ctx.clock.now();
    const rows = await this.#ctx.conn.q<{ seq: string; queue: string; run_at: string }>(REQUEUE, [
      unique.map(toSeq),
      Math.floor(options.runAt ?? now),
      options.resetAttempts ?? true,
      now,
      ...this.#ctx.notifier.params,
    ]);
    this.#ctx.notifier.emitLocal(rows, (r) => r.run_at);
    return movedOf(unique, rows);
  }

  /** `JobStore.replay`. */
  async replay(options: ReplayOptions): Promise<JobRecord[]> {
    checkReplay(options);
    const { conn, clock, notifier } = this.#ctx;
    await this.#ctx.ready();
    const now = clock.now();
    const values = [
      options.queue ?? null,
      options.partition ?? null,
      options.partitionKey ?? null,
      options.since,
    ];
    if (options.dryRun === true) {
      return (await conn.q<JobRow>(REPLAY_SELECT, values)).map(toRecord);
    }
    const { rows, reset } = await conn.tx(async (c) => {
      const reset = await conn.q<{ queue: string; run_at: string }>(
        REPLAY,
        [...values, now, ...notifier.params],
        c,
      );
      return { rows: await conn.q<JobRow>(REPLAY_SELECT, values, c), reset };
    });
    notifier.emitLocal(reset, (r) => r.run_at);
    return rows.map(toRecord);
  }

  /** `JobStore.purge`. */
  async purge(options: PurgeOptions): Promise<number> {
    const states = checkPurge(options);
    await this.#ctx.ready();
    const [row] = await this.#ctx.conn.q<{ n: number }>(PURGE, [states, options.finishedBefore]);
    return row?.n ?? 0;
  }
}
