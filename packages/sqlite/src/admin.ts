/**
 * The reads and maintenance of a `SqliteJobStore`: get, query, counts (from
 * the trigger-kept counters), the attempt log, replay of a partition and
 * purge of old terminal jobs.
 */
import {
  TERMINAL_STATES,
  type AttemptOutcome,
  type AttemptQuery,
  type AttemptRecord,
  type JobCounts,
  type JobQuery,
  type JobRecord,
  type JobState,
  type PurgeOptions,
  type ReplayOptions,
} from 'batchflight/jobs';
import {
  checkId,
  checkPurge,
  checkReplay,
  zeroCounts,
  resetJob,
  type JobMachine,
} from 'batchflight/kit';
import { rejected, type SqliteConnection } from './connection.js';
import { jobRow, toRecord, toSeq, type JobKey, type JobRow } from './rows.js';
import { jobMachine } from './transitions.js';
import {
  ATTEMPTS_SELECT_ATTEMPTS,
  COUNTS_SELECT_JOBS,
  COUNTS_SELECT_JOB_COUNTS,
  PURGE_DELETE_JOBS,
  PURGE_DELETE_JOB_DEPS,
  PURGE_DELETE_STEPS,
  REPLAY_DELETE_STEPS,
  REPLAY_SELECT_JOBS,
} from './sql/generated.js';

/** The `JobStore` reads, replay and purge of one store, on its connection. */
export class SqliteAdmin {
  readonly #c: SqliteConnection;
  readonly #machine: JobMachine<JobKey>;

  constructor(connection: SqliteConnection) {
    this.#c = connection;
    this.#machine = jobMachine(connection);
  }

  get(id: string): Promise<JobRecord | undefined> {
    return this.#c.read(() => {
      checkId('get', id);
      const row = jobRow(this.#c, toSeq(id));
      return row === undefined ? undefined : toRecord(this.#c, row);
    });
  }

  query(filter: JobQuery = {}): Promise<JobRecord[]> {
    return this.#c.read(() => {
      const where: string[] = [];
      const args: unknown[] = [];
      const add = (sql: string, value: unknown): void => {
        if (value === undefined) return;
        where.push(sql);
        args.push(value);
      };
      add('queue = ?', filter.queue);
      add('name = ?', filter.name);
      add(
        'state IN (SELECT value FROM json_each(?))',
        filter.state === undefined
          ? undefined
          : JSON.stringify(typeof filter.state === 'string' ? [filter.state] : filter.state),
      );
      add('partition_key = ?', filter.partitionKey);
      add('partition = ?', filter.partition);
      add('seq > ?', filter.afterSeq);
      args.push(filter.limit ?? 100);
      const rows = this.#c.db
        .prepare(
          `SELECT * FROM ${this.#c.prefix}jobs ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq LIMIT ?`,
        )
        .all(...args) as JobRow[];
      return rows.map((r) => toRecord(this.#c, r));
    });
  }

  counts(filter: { readonly queue?: string } = {}): Promise<JobCounts> {
    return this.#c.read(() => {
      const now = this.#c.clock.now();
      // Kept by triggers in every writing transaction (migration 4): no scan of the jobs.
      const rows = this.#c.stmt(COUNTS_SELECT_JOB_COUNTS).all(filter.queue ?? null) as {
        queue: string;
        part: number;
        state: JobState;
        n: number;
      }[];
      const byState = zeroCounts();
      const byQueue: Record<string, Record<JobState, number>> = {};
      const byPartition: Record<string, Record<JobState, number>> = {};
      for (const r of rows) {
        byState[r.state] += r.n;
        (byQueue[r.queue] ??= zeroCounts())[r.state] += r.n;
        (byPartition[r.part === -1 ? 'none' : String(r.part)] ??= zeroCounts())[r.state] += r.n;
      }
      // In run_at order on the ready index, stopping at the first unblocked job (MIN() visited
      // every pending job and ran the blocking checks on each).
      const oldest = (this.#c.stmt(COUNTS_SELECT_JOBS).get(now, filter.queue ?? null) as
        { t: number } | undefined) ?? { t: null };
      return {
        byState,
        byQueue,
        byPartition,
        oldestReadyAgeMs: oldest.t === null ? 0 : now - oldest.t,
      };
    });
  }

  attempts(filter: AttemptQuery = {}): Promise<AttemptRecord[]> {
    return this.#c.read(() => {
      const rows = this.#c
        .stmt(ATTEMPTS_SELECT_ATTEMPTS)
        .all(
          filter.jobId === undefined ? null : toSeq(filter.jobId),
          filter.since ?? null,
          filter.limit ?? 1000,
        ) as {
        job_seq: number;
        queue: string;
        name: string;
        attempt: number;
        epoch: number;
        worker_id: string;
        started_at: number;
        ended_at: number;
        outcome: AttemptOutcome;
        error: string | null;
        payload: string | null;
      }[];
      return rows.map((r) =>
        Object.freeze({
          jobId: String(r.job_seq),
          queue: r.queue,
          name: r.name,
          attempt: r.attempt,
          epoch: r.epoch,
          workerId: r.worker_id,
          startedAt: r.started_at,
          endedAt: r.ended_at,
          outcome: r.outcome,
          error: r.error,
          ...(r.payload === null ? {} : { payload: JSON.parse(r.payload) as unknown }),
        }),
      );
    });
  }

  replay(options: ReplayOptions): Promise<JobRecord[]> {
    try {
      checkReplay(options);
    } catch (error) {
      return rejected(error);
    }
    const notify: { queue: string; run_at: number }[] = [];
    const run = (): JobRecord[] => {
      notify.length = 0;
      const now = this.#c.clock.now();
      const rows = this.#c
        .stmt(REPLAY_SELECT_JOBS)
        .all(
          options.queue ?? null,
          options.partition ?? null,
          options.partitionKey ?? null,
          options.since,
        ) as JobKey[];
      return rows.map((r) => {
        if (
          options.dryRun !== true &&
          ((TERMINAL_STATES as readonly string[]).includes(r.state) || r.state === 'failed') &&
          this.#machine.endedDependency(r) === undefined
        ) {
          resetJob(this.#machine, r, now, true, now);
          // A replay does the work again, every step included.
          this.#c.stmt(REPLAY_DELETE_STEPS).run(r.seq);
          notify.push({ queue: r.queue, run_at: now });
        }
        return toRecord(this.#c, jobRow(this.#c, r.seq) as JobRow);
      });
    };
    const done = options.dryRun === true ? this.#c.read(run) : this.#c.write(run);
    return done.then((out) => {
      this.#c.notify(notify);
      return out;
    });
  }

  purge(options: PurgeOptions): Promise<number> {
    let states: readonly JobState[];
    try {
      states = checkPurge(options);
    } catch (error) {
      return rejected(error);
    }
    return this.#c.write(() => {
      const args = [JSON.stringify(states), options.finishedBefore];
      this.#c.stmt(PURGE_DELETE_STEPS).run(...args);
      this.#c.stmt(PURGE_DELETE_JOB_DEPS).run(...args);
      return this.#c.stmt(PURGE_DELETE_JOBS).run(...args).changes;
    });
  }
}
