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
  type Refusal,
  type RequeueOptions,
  type SettleResult,
} from 'batchflight/jobs';
import {
  checkClaim,
  newJobRecord,
  normalizeEnqueue,
  storableText,
  type NormalizedEnqueue,
  cancelDependent,
  expireExhausted,
  failLeased,
  leaseRefusal,
  requeueJobs,
  terminate,
  type JobMachine,
  type LeaseState,
} from 'batchflight/kit';
import { rejected, type SqliteConnection } from './connection.js';
import {
  JOB_COLUMNS,
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
import {
  CLAIM_LOG_RECLAIMED,
  CLAIM_EXHAUSTED_LEASES,
  CLAIM_CANDIDATES,
  CLAIM_LEASE_JOBS,
  COMPLETE_INSERT_ATTEMPTS,
  COMPLETE_UPDATE_JOBS,
  ENQUEUE_INSERT_JOBS,
  ENQUEUE_INSERT_JOB_DEPS,
  ENQUEUE_INSERT_LEDGER,
  ENQUEUE_SELECT_JOBS,
  ENQUEUE_SELECT_LEDGER,
  FAIL_SELECT_JOBS,
  HEARTBEAT_UPDATE_JOBS,
  REFUSAL_SELECT_JOBS,
  RELEASE_UPDATE_JOBS,
} from './sql/generated.js';

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
          const row = this.#c.stmt(ENQUEUE_SELECT_JOBS).get(toSeq(dep)) as
            { state: JobState } | undefined;
          if (row === undefined) missing.add(dep);
          else depStates.set(dep, row.state);
        }
      }
      if (missing.size > 0) throw new JobDependencyError([...missing]);
      for (const n of normalized) {
        if (n.idempotencyKey !== null) {
          const ledger = this.#c.stmt(ENQUEUE_SELECT_LEDGER).get(n.queue, n.idempotencyKey) as
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
            .stmt(ENQUEUE_INSERT_JOBS)
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
          this.#c.stmt(ENQUEUE_INSERT_JOB_DEPS).run(row.seq, toSeq(dep));
        }
        if (n.idempotencyKey !== null) {
          this.#c
            .stmt(ENQUEUE_INSERT_LEDGER)
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
      const exhausted = this.#c.stmt(CLAIM_EXHAUSTED_LEASES).all(now, queues, names) as JobKey[];
      for (const job of exhausted) expireExhausted(this.#machine, job, now);
      const weights: Record<string, number> = {};
      for (const [k, w] of Object.entries(options.weights ?? {})) weights[k] = w > 0 ? w : 1;
      const aging = Number.isFinite(agingMs) ? Math.max(1, Math.floor(agingMs)) : 0;
      // Claimability beyond state and time: the `claimable` fragment of sql/fragments.sql.
      // Ranking every ready job would cost O(ready) per claim. Instead, per
      // fairness key, only the `limit` highest-priority ready jobs and the
      // `limit` oldest among those old enough to have aged (the only ones
      // aging can lift above the first set) are candidates, found by index
      // walks, plus expired leases; the exact ranking runs on that small set.
      const candidates = this.#c
        .stmt(CLAIM_CANDIDATES)
        .all(aging, now, JSON.stringify(weights), options.limit, queues, names) as {
        seq: number;
        state: JobState;
      }[];
      if (candidates.length === 0) return [];
      // One statement per step, not per job: statement overhead dominates row work.
      const seqs = JSON.stringify(candidates.map((c) => c.seq));
      if (candidates.some((c) => c.state === 'leased')) {
        this.#c.stmt(CLAIM_LOG_RECLAIMED).run(now, seqs, this.#c.attemptPayloads ? 1 : 0);
      }
      this.#c.stmt(CLAIM_LEASE_JOBS).run(options.workerId, now + options.leaseMs, now, seqs);
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
    const row = this.#c.stmt(REFUSAL_SELECT_JOBS).get(toSeq(ref.id)) as LeaseState | undefined;
    // A ref refused by the statement holds no lease; a job leased under that very epoch
    // would have been accepted in the same transaction.
    return leaseRefusal(ref, row) ?? { id: ref.id, epoch: ref.epoch, reason: 'not-leased' };
  }

  heartbeat(leases: readonly LeaseRef[], leaseMs: number): Promise<SettleResult> {
    return this.#c.write(() => {
      const now = this.#c.clock.now();
      const done = this.#c
        .stmt(HEARTBEAT_UPDATE_JOBS)
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
        const stmt = this.#c.stmt(RELEASE_UPDATE_JOBS);
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
      this.#c.stmt(COMPLETE_INSERT_ATTEMPTS).run(now, input, this.#c.attemptPayloads ? 1 : 0);
      const rows = this.#c.stmt(COMPLETE_UPDATE_JOBS).all(now, input) as {
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
      const check = this.#c.stmt(FAIL_SELECT_JOBS);
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
