/**
 * The jobs of a `SqliteJobStore`: enqueue (idempotency ledger, dependencies),
 * claim (the select-then-lease of one transaction, expired leases reclaimed),
 * heartbeat, release, complete (with the transactional `onComplete` hook),
 * fail, dead letter, cancel and requeue, every settle a compare-and-set on
 * (seq, epoch, state).
 */
import {
  JobConflictError,
  JobDependencyError,
  checkClaim,
  newJobRecord,
  normalizeEnqueue,
  storableText,
  type ClaimOptions,
  type CompleteInput,
  type CompletedJob,
  type EnqueueResult,
  type EnqueueSpec,
  type FailInput,
  type FailResult,
  type JobRecord,
  type JobState,
  type LeaseRef,
  type NormalizedEnqueue,
  type Refusal,
  type RequeueOptions,
  type SettleResult,
  cancelDependent,
  expireExhausted,
  failLeased,
  leaseRefusal,
  requeueJobs,
  terminate,
  type JobMachine,
  type LeaseState,
} from 'batchflight/jobs';
import { rejected, type SqliteConnection } from './connection.js';
import {
  JOB_COLUMNS,
  JOB_KEY,
  JOB_KEY_OF_J,
  UNBLOCKED_SQL,
  fromRaw,
  isEnded,
  jobRow,
  parse,
  toRecord,
  toSeq,
  type JobKey,
  type JobRow,
} from './rows.js';
import { jobMachine, syncLedger } from './transitions.js';

/** The `JobStore` writes of one store, on its connection. */
export class SqliteJobs {
  readonly #c: SqliteConnection;
  readonly #machine: JobMachine<JobKey>;

  constructor(connection: SqliteConnection) {
    this.#c = connection;
    this.#machine = jobMachine(connection);
  }

  enqueue(specs: readonly EnqueueSpec[]): Promise<EnqueueResult[]> {
    let normalized: NormalizedEnqueue[];
    let now: number;
    try {
      now = this.#c.clock.now();
      normalized = specs.map((s) => normalizeEnqueue(s, now));
    } catch (error) {
      return rejected(error);
    }
    const created: { queue: string; run_at: number }[] = [];
    const result = this.#c.write(() => {
      created.length = 0;
      const missing = new Set<string>();
      const depStates = new Map<string, JobState>();
      const seen = new Map<string, { fingerprint: string; seq: number }>();
      const out: EnqueueResult[] = [];
      for (const n of normalized) {
        for (const dep of n.dependsOn) {
          const row = this.#c.stmt('SELECT state FROM {p}jobs WHERE seq = ?').get(toSeq(dep)) as
            { state: JobState } | undefined;
          if (row === undefined) missing.add(dep);
          else depStates.set(dep, row.state);
        }
      }
      if (missing.size > 0) throw new JobDependencyError([...missing]);
      for (const n of normalized) {
        if (n.idempotencyKey !== null) {
          const ledger = this.#c
            .stmt(
              'SELECT job_seq, fingerprint, state, result FROM {p}ledger WHERE queue = ? AND key = ?',
            )
            .get(n.queue, n.idempotencyKey) as
            | { job_seq: number; fingerprint: string; state: JobState; result: string | null }
            | undefined;
          if (ledger !== undefined) {
            if (ledger.fingerprint !== n.fingerprint) {
              throw new JobConflictError(n.queue, n.idempotencyKey, String(ledger.job_seq));
            }
            const row = jobRow(this.#c, ledger.job_seq);
            out.push({
              id: String(ledger.job_seq),
              created: false,
              job: row === undefined ? null : toRecord(this.#c, row),
              state: row?.state ?? ledger.state,
              result: parse(row === undefined ? ledger.result : row.result),
            });
            continue;
          }
          const earlier = seen.get(`${n.queue}\0${n.idempotencyKey}`);
          if (earlier !== undefined && earlier.fingerprint !== n.fingerprint) {
            throw new JobConflictError(n.queue, n.idempotencyKey, String(earlier.seq));
          }
        }
        const seq = Number(
          this.#c
            .stmt(
              `INSERT INTO {p}jobs (queue, name, payload, state, idempotency_key, partition_key, fair_key, partition,
               ordered, priority, run_at, has_deps, attempts, max_attempts, backoff, epoch, created_at, updated_at)
             VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, 0, ?, ?)`,
            )
            .run(
              n.queue,
              n.name,
              n.payloadJson,
              n.idempotencyKey,
              n.partitionKey,
              n.partitionKey ?? '',
              n.partition,
              n.ordered ? 1 : 0,
              n.priority,
              n.runAt,
              n.dependsOn.length > 0 ? 1 : 0,
              n.maxAttempts,
              n.backoff === null ? null : JSON.stringify(n.backoff),
              now,
              now,
            ).lastInsertRowid,
        );
        const row = { seq, queue: n.queue, run_at: n.runAt };
        for (const dep of n.dependsOn) {
          this.#c
            .stmt('INSERT INTO {p}job_deps (job_seq, depends_on) VALUES (?, ?)')
            .run(row.seq, toSeq(dep));
        }
        if (n.idempotencyKey !== null) {
          this.#c
            .stmt(
              `INSERT INTO {p}ledger (queue, key, job_seq, fingerprint, state) VALUES (?, ?, ?, ?, 'pending')`,
            )
            .run(n.queue, n.idempotencyKey, row.seq, n.fingerprint);
          seen.set(`${n.queue}\0${n.idempotencyKey}`, {
            fingerprint: n.fingerprint,
            seq: row.seq,
          });
        }
        const ended = n.dependsOn.find((dep) => isEnded(depStates.get(dep)));
        if (ended !== undefined) {
          // Its dependency will never succeed: the job is created cancelled.
          const job: JobKey = {
            seq,
            state: 'pending',
            queue: n.queue,
            has_deps: 1,
            idempotency_key: n.idempotencyKey,
          };
          cancelDependent(
            this.#machine,
            job,
            { id: ended, state: depStates.get(ended) as JobState },
            now,
          );
          out.push({
            id: String(seq),
            created: true,
            job: toRecord(this.#c, jobRow(this.#c, seq) as JobRow),
            state: 'cancelled',
            result: undefined,
          });
          continue;
        }
        created.push(row);
        out.push({
          id: String(seq),
          created: true,
          // Built from what was inserted: re-reading every row would double the cost of a bulk enqueue.
          job: Object.freeze(newJobRecord(n, seq, now)),
          state: 'pending',
          result: undefined,
        });
      }
      return out;
    });
    return result.then((out) => {
      this.#c.notify(created);
      return out;
    });
  }

  claim(options: ClaimOptions): Promise<JobRecord[]> {
    let agingMs: number;
    try {
      agingMs = checkClaim(options);
    } catch (error) {
      return rejected(error);
    }
    return this.#c.write(() => {
      const now = this.#c.clock.now();
      // ?5 / ?6: the queues and names a worker claims from (JSON arrays), or null for all.
      const queues = options.queues === undefined ? null : JSON.stringify(options.queues);
      const names = options.names === undefined ? null : JSON.stringify(options.names);
      // Expired leases of exhausted jobs: the crash may be the job's own fault, so it dies.
      const exhausted = this.#c
        .stmt(
          `SELECT ${JOB_KEY_OF_J} FROM {p}jobs j INDEXED BY {p}jobs_lease WHERE j.state = 'leased' AND j.lease_expires_at <= ?1
           AND j.attempts >= j.max_attempts
           AND (?2 IS NULL OR j.queue IN (SELECT value FROM json_each(?2)))
           AND (?3 IS NULL OR j.name IN (SELECT value FROM json_each(?3)))`,
        )
        .all(now, queues, names) as JobKey[];
      for (const job of exhausted) expireExhausted(this.#machine, job, now);
      const weights: Record<string, number> = {};
      for (const [k, w] of Object.entries(options.weights ?? {})) weights[k] = w > 0 ? w : 1;
      const aging = Number.isFinite(agingMs) ? Math.max(1, Math.floor(agingMs)) : 0;
      // Claimability beyond state and time, on alias x: dependencies done, the
      // head of its ordered partition, and in the worker's scope.
      const claimable = `${UNBLOCKED_SQL}
          AND (?5 IS NULL OR x.queue IN (SELECT value FROM json_each(?5)))
          AND (?6 IS NULL OR x.name IN (SELECT value FROM json_each(?6)))`;
      // Ranking every ready job would cost O(ready) per claim. Instead, per
      // fairness key, only the `limit` highest-priority ready jobs and the
      // `limit` oldest among those old enough to have aged (the only ones
      // aging can lift above the first set) are candidates, found by index
      // walks, plus expired leases; the exact ranking runs on that small set.
      const candidates = this.#c
        .stmt(
          `WITH RECURSIVE keys(fair_key) AS (
             -- Distinct fairness keys by index skips: O(keys · log n), not O(ready jobs).
             SELECT MIN(fair_key) FROM {p}jobs WHERE state IN ('pending','failed')
             UNION ALL
             SELECT (SELECT MIN(x.fair_key) FROM {p}jobs x
                     WHERE x.state IN ('pending','failed') AND x.fair_key > keys.fair_key)
             FROM keys WHERE keys.fair_key IS NOT NULL
           ), pool AS (
             SELECT c.seq FROM keys k JOIN {p}jobs c ON c.seq IN (
               SELECT x.seq FROM {p}jobs x
               WHERE x.fair_key = k.fair_key AND x.state IN ('pending','failed') AND +x.run_at <= ?2
                 AND ${claimable}
               ORDER BY x.priority DESC, x.seq LIMIT ?4)
             UNION
             SELECT c.seq FROM keys k JOIN {p}jobs c ON c.seq IN (
               SELECT x.seq FROM {p}jobs x
               WHERE x.fair_key = k.fair_key AND x.state IN ('pending','failed')
                 AND ?1 > 0 AND x.run_at <= ?2 - ?1 AND ${claimable}
               ORDER BY x.run_at LIMIT ?4)
             UNION
             SELECT seq FROM (
               SELECT x.seq FROM {p}jobs x INDEXED BY {p}jobs_lease
               WHERE x.state = 'leased' AND x.lease_expires_at <= ?2 AND ${claimable}
               ORDER BY x.lease_expires_at LIMIT ?4)
           ), scored AS (
             SELECT j.seq, j.fair_key, j.state,
               j.priority + CASE WHEN ?1 > 0 THEN MAX(0, ?2 - j.run_at) / ?1 ELSE 0 END AS eff
             FROM pool p CROSS JOIN {p}jobs j ON j.seq = p.seq
           ), ranked AS (
             SELECT seq, fair_key, state, eff,
               ROW_NUMBER() OVER (PARTITION BY fair_key ORDER BY eff DESC, seq) AS rn
             FROM scored
           )
           SELECT r.seq, r.state FROM ranked r LEFT JOIN json_each(?3) w ON w.key = r.fair_key
           WHERE r.rn <= ?4
           ORDER BY (r.rn - 1) * 1.0 / COALESCE(w.value, 1), r.eff DESC, r.seq
           LIMIT ?4`,
        )
        .all(aging, now, JSON.stringify(weights), options.limit, queues, names) as {
        seq: number;
        state: JobState;
      }[];
      if (candidates.length === 0) return [];
      // One statement per step, not per job: statement overhead dominates row work.
      const seqs = JSON.stringify(candidates.map((c) => c.seq));
      if (candidates.some((c) => c.state === 'leased')) {
        this.#c
          .stmt(
            `INSERT INTO {p}attempts (job_seq, queue, name, attempt, epoch, worker_id, started_at, ended_at, outcome, error, payload)
           SELECT seq, queue, name, attempts, epoch, COALESCE(lease_owner, ''), COALESCE(started_at, updated_at), ?1,
             'expired', 'lease expired', CASE WHEN ?3 THEN payload END
           FROM {p}jobs WHERE seq IN (SELECT value FROM json_each(?2)) AND +state = 'leased'`,
          )
          .run(now, seqs, this.#c.attemptPayloads ? 1 : 0);
      }
      this.#c
        .stmt(
          `UPDATE {p}jobs SET state = 'leased', attempts = attempts + 1, epoch = epoch + 1,
           lease_owner = ?1, lease_expires_at = ?2, started_at = ?3, updated_at = ?3
         WHERE seq IN (SELECT value FROM json_each(?4))`,
        )
        .run(options.workerId, now + options.leaseMs, now, seqs);
      // Rows as arrays: building 25-key objects costs ~4× the read itself.
      let read = this.#c.rawReads.get('claim');
      if (read === undefined) {
        read = this.#c.db
          .prepare(
            `SELECT ${JOB_COLUMNS.join(', ')} FROM ${this.#c.prefix}jobs WHERE seq IN (SELECT value FROM json_each(?))`,
          )
          .raw(true);
        this.#c.rawReads.set('claim', read);
      }
      const rows = (read.all(seqs) as unknown[][]).map(fromRaw);
      const bySeq = new Map(rows.map((r) => [r.seq, r]));
      const claimed = candidates.map((c) => toRecord(this.#c, bySeq.get(c.seq) as JobRow));
      return claimed;
    });
  }

  /** Why `ref` was refused (called for a ref whose compare-and-set did not pass). */
  #refusal(ref: LeaseRef): Refusal {
    const row = this.#c
      .stmt('SELECT state, epoch FROM {p}jobs WHERE seq = ?')
      .get(toSeq(ref.id)) as LeaseState | undefined;
    // A ref refused by the statement holds no lease; a job leased under that very epoch
    // would have been accepted in the same transaction.
    return leaseRefusal(ref, row) ?? { id: ref.id, epoch: ref.epoch, reason: 'not-leased' };
  }

  heartbeat(leases: readonly LeaseRef[], leaseMs: number): Promise<SettleResult> {
    return this.#c.write(() => {
      const now = this.#c.clock.now();
      const done = this.#c
        .stmt(
          `UPDATE {p}jobs SET lease_expires_at = ?1, updated_at = ?2
         FROM (SELECT value ->> 0 AS s, value ->> 1 AS e FROM json_each(?3)) v
         WHERE {p}jobs.seq = v.s AND {p}jobs.epoch = v.e AND +{p}jobs.state = 'leased' RETURNING {p}jobs.seq`,
        )
        .all(now + leaseMs, now, JSON.stringify(leases.map((l) => [toSeq(l.id), l.epoch]))) as {
        seq: number;
      }[];
      return this.#split(leases, new Set(done.map((d) => d.seq)));
    });
  }

  /** Splits refs into accepted (seq in `ok`) and refused, in input order. */
  #split(refs: readonly LeaseRef[], ok: ReadonlySet<number>): SettleResult {
    const accepted: string[] = [];
    const refused: Refusal[] = [];
    for (const ref of refs) {
      if (ok.has(toSeq(ref.id))) accepted.push(ref.id);
      else refused.push(this.#refusal(ref));
    }
    return { accepted, refused };
  }

  release(leases: readonly LeaseRef[]): Promise<SettleResult> {
    const notify: { queue: string; run_at: number }[] = [];
    return this.#c
      .write(() => {
        notify.length = 0;
        const now = this.#c.clock.now();
        const accepted: string[] = [];
        const refused: Refusal[] = [];
        const stmt = this.#c.stmt(
          `UPDATE {p}jobs SET state = 'pending', attempts = MAX(0, attempts - 1), lease_owner = NULL,
           lease_expires_at = NULL, run_at = MIN(run_at, ?1), updated_at = ?1
         WHERE seq = ?2 AND epoch = ?3 AND state = 'leased' RETURNING queue, run_at`,
        );
        for (const ref of leases) {
          const row = stmt.get(now, toSeq(ref.id), ref.epoch) as
            { queue: string; run_at: number } | undefined;
          if (row === undefined) refused.push(this.#refusal(ref));
          else {
            accepted.push(ref.id);
            notify.push(row);
          }
        }
        return { accepted, refused };
      })
      .then((res) => {
        this.#c.notify(notify);
        return res;
      });
  }

  complete(completions: readonly CompleteInput[]): Promise<SettleResult> {
    return this.#c.write(() => {
      const now = this.#c.clock.now();
      // Duplicates within one call: the first wins, the others are refused as not leased.
      const seen = new Set<number>();
      const unique = completions.filter((c) => {
        const seq = toSeq(c.id);
        if (seen.has(seq)) return false;
        seen.add(seq);
        return true;
      });
      const input = JSON.stringify(
        unique.map((c) => [toSeq(c.id), c.epoch, JSON.stringify(c.result ?? null)]),
      );
      this.#c
        .stmt(
          `INSERT INTO {p}attempts (job_seq, queue, name, attempt, epoch, worker_id, started_at, ended_at, outcome, error, payload)
         SELECT j.seq, j.queue, j.name, j.attempts, j.epoch, COALESCE(j.lease_owner, ''),
           COALESCE(j.started_at, j.updated_at), ?1, 'succeeded', NULL, CASE WHEN ?3 THEN j.payload END
         FROM (SELECT value ->> 0 AS s, value ->> 1 AS e FROM json_each(?2)) v
         CROSS JOIN {p}jobs j ON j.seq = v.s AND j.epoch = v.e AND +j.state = 'leased'`,
        )
        .run(now, input, this.#c.attemptPayloads ? 1 : 0);
      const rows = this.#c
        .stmt(
          `UPDATE {p}jobs SET state = 'succeeded', result = v.r, lease_owner = NULL, lease_expires_at = NULL,
           finished_at = ?1, updated_at = ?1
         FROM (SELECT value ->> 0 AS s, value ->> 1 AS e, value ->> 2 AS r FROM json_each(?2)) v
         WHERE {p}jobs.seq = v.s AND {p}jobs.epoch = v.e AND +{p}jobs.state = 'leased'
         RETURNING {p}jobs.seq, {p}jobs.queue, {p}jobs.name, {p}jobs.idempotency_key, {p}jobs.result`,
        )
        .all(now, input) as {
        seq: number;
        queue: string;
        name: string;
        idempotency_key: string | null;
        result: string;
      }[];
      const bySeq = new Map(rows.map((r) => [r.seq, r]));
      for (const r of rows) if (r.idempotency_key !== null) syncLedger(this.#c, r.seq);
      if (this.#c.onComplete !== undefined && rows.length > 0) {
        const done: CompletedJob[] = [];
        for (const c of unique) {
          const r = bySeq.get(toSeq(c.id));
          if (r === undefined) continue;
          done.push({
            id: c.id,
            epoch: c.epoch,
            queue: r.queue,
            name: r.name,
            result: JSON.parse(r.result) as unknown,
          });
        }
        this.#c.onComplete(this.#c.db, done);
      }
      const res = this.#split(unique, new Set(bySeq.keys()));
      if (unique.length === completions.length) return res;
      const extra = completions.filter((c) => !unique.includes(c)).map((c) => this.#refusal(c));
      return { accepted: res.accepted, refused: [...res.refused, ...extra] };
    });
  }

  fail(input: readonly FailInput[]): Promise<FailResult> {
    return this.#c.write(() => {
      // Error texts are kept, not refused: U+0000 becomes U+FFFD, as in every store.
      const failures = input.map((f) => ({ ...f, error: storableText(f.error) }));
      const now = this.#c.clock.now();
      const accepted: string[] = [];
      const refused: Refusal[] = [];
      const retrying: string[] = [];
      const dead: string[] = [];
      const check = this.#c.stmt(
        `SELECT ${JOB_KEY}, attempts, max_attempts FROM {p}jobs WHERE seq = ? AND epoch = ? AND state = 'leased'`,
      );
      for (const f of failures) {
        const seq = toSeq(f.id);
        const row = check.get(seq, f.epoch) as
          (JobKey & { attempts: number; max_attempts: number }) | undefined;
        if (row === undefined) {
          refused.push(this.#refusal(f));
          continue;
        }
        const exhausted = row.attempts >= row.max_attempts;
        const to = failLeased(this.#machine, row, f, f.error, exhausted, now);
        accepted.push(f.id);
        (to === 'dead' ? dead : retrying).push(f.id);
      }
      return { accepted, refused, retrying, dead };
    });
  }

  deadLetter(ids: readonly string[], reason: string): Promise<string[]> {
    return this.#c.write(() =>
      terminate(this.#machine, ids, 'dead', storableText(reason), this.#c.clock.now()),
    );
  }

  cancel(ids: readonly string[]): Promise<string[]> {
    return this.#c.write(() =>
      terminate(this.#machine, ids, 'cancelled', null, this.#c.clock.now()),
    );
  }

  requeue(ids: readonly string[], options: RequeueOptions = {}): Promise<string[]> {
    const notify: { queue: string; run_at: number }[] = [];
    return this.#c
      .write(() => {
        notify.length = 0;
        const now = this.#c.clock.now();
        const moved = requeueJobs(this.#machine, ids, options, now);
        const runAt = options.runAt ?? now;
        for (const job of moved) notify.push({ queue: job.queue, run_at: runAt });
        return moved.map((job) => String(job.seq));
      })
      .then((moved) => {
        this.#c.notify(notify);
        return moved;
      });
  }
}
