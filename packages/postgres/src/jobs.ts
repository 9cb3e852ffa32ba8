/**
 * The job lifecycle of the PostgreSQL store: enqueue, claim, and the
 * compare-and-set statements on leases (heartbeat, release, complete, fail).
 *
 * - A claim is ONE statement (`CLAIM_JOBS`, `sql/claim.sql`): it walks the open
 *   fairness keys, takes up to `limit` ready candidates per key `FOR UPDATE
 *   SKIP LOCKED`, ranks them by weighted fair share and aged priority, leases
 *   the best `limit` (epoch + 1, lease expiry), logs reclaimed expired leases
 *   and dead-letters exhausted ones — so concurrent workers never wait on each
 *   other and never share a job.
 * - `complete`, `fail` and `heartbeat` of many jobs are ONE statement each
 *   (`sql/settle.sql`): a compare-and-set on `(seq, epoch, state = 'leased')`
 *   over `unnest()`ed arrays that also appends the attempt log and updates the
 *   ledger, and returns the refused ones with the reason.
 */
import type pg from 'pg';
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
  type SettleResult,
} from 'batchflight/jobs';
import {
  DEPENDENCY_FAILED_STATES,
  checkClaim,
  dependencyEndedError,
  newJobRecord,
  normalizeEnqueue,
  storableText,
  type NormalizedEnqueue,
} from 'batchflight/kit';
import type { Queryable } from './connection.js';
import {
  json,
  toRecord,
  toSeq,
  type JobRow,
  type SettleRow,
  type StoreContext,
} from './context.js';
import {
  CANCEL_ON_ENQUEUE,
  CLAIM_JOBS,
  COMPLETE,
  COMPLETE_ALL_ROWS,
  DEPENDENCY_STATES,
  FAIL,
  HEARTBEAT,
  INSERT_DEPS,
  INSERT_JOBS,
  INSERT_JOBS_WITH_SEQ,
  JOBS_BY_SEQ,
  JOB_STATES,
  LEDGER_ENTRIES,
  LEDGER_INSERT,
  RELEASE,
  RESERVE_SEQS,
} from './sql/generated.js';

/** `FailInput.delayMs` as kept (`retryDelayMs`): an integer >= 0, 0 when absent or not one. */
const retryDelay = (ms: unknown): number =>
  typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 ? Math.round(ms) : 0;

/** The settle rows of every input from the refused ones: the inputs not among them were accepted. */
function withAccepted(refused: readonly SettleRow[], refs: readonly LeaseRef[]): SettleRow[] {
  const byOrd = new Map(refused.map((r) => [Number(r.ord), r]));
  return refs.map(
    (ref, k) =>
      byOrd.get(k + 1) ?? {
        ord: String(k + 1),
        seq: ref.id,
        epoch: String(ref.epoch),
        ok: true,
        state: null,
        cur: null,
      },
  );
}

/** Puts back the caller's id strings (a malformed id was sent as -1). */
function withIds<R extends SettleRow>(rows: readonly R[], refs: readonly LeaseRef[]): R[] {
  return rows.map((r) => ({ ...r, seq: refs[Number(r.ord) - 1]?.id ?? r.seq }));
}

/** Orders two normalized enqueues by (queue, idempotency key): the ledger's lock order. */
function byLedgerKey(x: NormalizedEnqueue, y: NormalizedEnqueue): number {
  if (x.queue !== y.queue) return x.queue < y.queue ? -1 : 1;
  return (x.idempotencyKey ?? '') < (y.idempotencyKey ?? '') ? -1 : 1;
}

/**
 * The `$1` of `INSERT_JOBS`: one JSON array of tuples, built as one string (an enqueue of
 * 5,000 spent more time building 5,000 small strings and arrays, and collecting them, than
 * the server spent parsing them). Queue and name texts are quoted once per distinct value.
 */
function jobTuples(ns: readonly NormalizedEnqueue[], seqs: readonly string[] | null): string {
  const quoted = new Map<string, string>();
  const q = (s: string): string => {
    let t = quoted.get(s);
    if (t === undefined) {
      t = JSON.stringify(s);
      quoted.set(s, t);
    }
    return t;
  };
  let out = '[';
  for (let i = 0; i < ns.length; i++) {
    const n = ns[i] as NormalizedEnqueue;
    out += `${i === 0 ? '' : ','}[${q(n.queue)},${q(n.name)},${n.payloadJson},${
      n.idempotencyKey === null ? 'null' : JSON.stringify(n.idempotencyKey)
    },${n.partitionKey === null ? 'null' : q(n.partitionKey)},${
      n.partition === null ? 'null' : String(n.partition)
    },${String(n.ordered)},${String(n.priority)},${String(n.runAt)},${String(
      n.dependsOn.length > 0,
    )},${String(n.maxAttempts)},${n.backoff === null ? 'null' : JSON.stringify(n.backoff)},${
      seqs === null ? 'null' : (seqs[i] ?? 'null')
    }]`;
  }
  return `${out}]`;
}

/**
 * The record of a job just inserted by `INSERT_JOBS` (known here: the statement returns only
 * the seq, which spares the server serialising and this process parsing every payload again);
 * `cancelledWith` when the enqueue cancelled it at once (an ended dependency).
 */
function createdRecord(
  n: NormalizedEnqueue,
  seq: string,
  now: number,
  cancelledWith?: string,
): JobRecord {
  return Object.freeze({
    ...newJobRecord(n, Number(seq), now),
    // As a read gives them back: dependencies in seq order (and the kept retry delay, 0).
    dependsOn: n.dependsOn.length > 0 ? [...n.dependsOn].sort((x, y) => Number(x) - Number(y)) : [],
    retryDelayMs: 0,
    ...(cancelledWith === undefined
      ? {}
      : { state: 'cancelled' as const, finishedAt: now, lastError: cancelledWith }),
  });
}

/** Enqueue, claim and the lease compare-and-sets of one store. */
export class PgJobs {
  readonly #ctx: StoreContext;

  /** The job statements of the store `ctx` belongs to. */
  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  // ---------------------------------------------------------------- enqueue

  /** `JobStore.enqueue`. */
  async enqueue(specs: readonly EnqueueSpec[]): Promise<EnqueueResult[]> {
    const { conn, clock, notifier } = this.#ctx;
    await this.#ctx.ready();
    const now = clock.now();
    const normalized = specs.map((s) => normalizeEnqueue(s, now));
    if (normalized.length === 0) return [];
    // Keys repeated within the call: the first one stands for the others.
    const firstOf = new Map<string, number>();
    const alias: (number | undefined)[] = [];
    normalized.forEach((n, i) => {
      if (n.idempotencyKey === null) return;
      const key = `${n.queue}\0${n.idempotencyKey}`;
      const first = firstOf.get(key);
      if (first === undefined) {
        firstOf.set(key, i);
        return;
      }
      if (normalized[first]?.fingerprint !== n.fingerprint) {
        throw new JobConflictError(n.queue, n.idempotencyKey, `(input ${String(first)})`);
      }
      alias[i] = first;
    });
    const simple = firstOf.size === 0 && normalized.every((n) => n.dependsOn.length === 0);
    if (simple) {
      const seqs = await this.#insertJobs(conn.pool, normalized, null, now);
      notifier.emitLocal(normalized, (n) => n.runAt);
      return normalized.map((n, i) => {
        const seq = seqs[i] ?? '';
        return {
          id: seq,
          created: true,
          job: createdRecord(n, seq, now),
          state: 'pending',
          result: undefined,
        };
      });
    }
    const { results, created } = await conn.tx((c) => this.#enqueueTx(c, normalized, alias, now));
    notifier.emitLocal(created, (r) => r.runAt);
    return results;
  }

  async #enqueueTx(
    c: pg.PoolClient,
    normalized: readonly NormalizedEnqueue[],
    alias: readonly (number | undefined)[],
    now: number,
  ): Promise<{ results: EnqueueResult[]; created: JobRecord[] }> {
    const { conn } = this.#ctx;
    const deps = [...new Set(normalized.flatMap((n) => n.dependsOn))];
    // Dependencies that went dead or cancelled: a job enqueued on one is created cancelled.
    const ended = new Map<string, JobState>();
    if (deps.length > 0) {
      const found = await conn.q<{ seq: string; state: JobState }>(
        DEPENDENCY_STATES,
        [deps.map(toSeq)],
        c,
      );
      const have = new Set(found.map((r) => r.seq));
      const missing = deps.filter((d) => !have.has(d));
      if (missing.length > 0) throw new JobDependencyError(missing);
      for (const r of found)
        if (DEPENDENCY_FAILED_STATES.includes(r.state)) ended.set(r.seq, r.state);
    }
    const fresh = normalized.flatMap((n, i) => (alias[i] === undefined ? [i] : []));
    const seqRows = await conn.q<{ seq: string }>(RESERVE_SEQS, [fresh.length], c);
    const seqs = seqRows.map((r) => r.seq).sort((a, b) => Number(a) - Number(b));
    const seqOf = new Map<number, string>();
    fresh.forEach((i, k) => seqOf.set(i, seqs[k] ?? ''));

    const existing = await this.#claimKeys(c, normalized, fresh, seqOf);
    const toCreate = fresh.filter((i) => !existing.has(i));
    if (toCreate.length > 0) {
      await this.#insertJobs(
        c,
        toCreate.map((i) => normalized[i] as NormalizedEnqueue),
        toCreate.map((i) => seqOf.get(i) ?? ''),
        now,
      );
    }
    const depPairs = toCreate.flatMap((i) =>
      (normalized[i]?.dependsOn ?? []).map((d) => [seqOf.get(i) ?? '', d] as const),
    );
    if (depPairs.length > 0) {
      await conn.q(INSERT_DEPS, [depPairs.map((p) => p[0]), depPairs.map((p) => p[1])], c);
    }
    const cancelled =
      ended.size > 0
        ? await this.#cancelOnEnqueue(c, toCreate, normalized, seqOf, ended, now)
        : undefined;
    const bySeq = new Map<string, JobRecord>();
    for (const i of toCreate) {
      const seq = seqOf.get(i) ?? '';
      bySeq.set(
        seq,
        createdRecord(normalized[i] as NormalizedEnqueue, seq, now, cancelled?.get(seq)),
      );
    }
    const results: EnqueueResult[] = [];
    normalized.forEach((_, i) => {
      const target = alias[i] ?? i;
      const known = existing.get(target);
      if (known !== undefined) {
        results.push(known);
        return;
      }
      const job = bySeq.get(seqOf.get(target) ?? '');
      if (job === undefined) throw new Error('inserted job missing from RETURNING');
      results.push({ id: job.id, created: target === i, job, state: job.state, result: undefined });
    });
    return { results, created: [...bySeq.values()] };
  }

  /**
   * Insert-first into the ledger, in key order (no deadlock between racing callers): a key
   * being inserted by a concurrent transaction makes us wait for it, then lose to it. Returns
   * the results of the inputs whose key another job holds (a conflict when its fingerprint
   * differs).
   */
  async #claimKeys(
    c: pg.PoolClient,
    normalized: readonly NormalizedEnqueue[],
    fresh: readonly number[],
    seqOf: ReadonlyMap<number, string>,
  ): Promise<Map<number, EnqueueResult>> {
    const { conn } = this.#ctx;
    const existing = new Map<number, EnqueueResult>();
    const keyed = fresh
      .filter((i) => normalized[i]?.idempotencyKey !== null)
      .sort((a, b) =>
        byLedgerKey(normalized[a] as NormalizedEnqueue, normalized[b] as NormalizedEnqueue),
      );
    if (keyed.length === 0) return existing;
    const won = await conn.q<{ job_seq: string }>(
      LEDGER_INSERT,
      [
        keyed.map((i) => normalized[i]?.queue),
        keyed.map((i) => normalized[i]?.idempotencyKey),
        keyed.map((i) => seqOf.get(i)),
        keyed.map((i) => normalized[i]?.fingerprint),
      ],
      c,
    );
    const wonSeqs = new Set(won.map((r) => r.job_seq));
    const lost = keyed.filter((i) => !wonSeqs.has(seqOf.get(i) ?? ''));
    if (lost.length === 0) return existing;
    const rows = await conn.q<{
      queue: string;
      key: string;
      job_seq: string;
      fingerprint: string;
      state: JobState;
      result: unknown;
    }>(
      LEDGER_ENTRIES,
      [lost.map((i) => normalized[i]?.queue), lost.map((i) => normalized[i]?.idempotencyKey)],
      c,
    );
    const byKey = new Map(rows.map((r) => [`${r.queue}\0${r.key}`, r]));
    const jobs = await this.jobsBySeq(
      rows.map((r) => r.job_seq),
      c,
    );
    for (const i of lost) {
      const n = normalized[i] as NormalizedEnqueue;
      const entry = byKey.get(`${n.queue}\0${n.idempotencyKey ?? ''}`);
      if (entry === undefined) throw new Error('ledger entry vanished during enqueue');
      if (entry.fingerprint !== n.fingerprint) {
        throw new JobConflictError(n.queue, n.idempotencyKey ?? '', entry.job_seq);
      }
      const job = jobs.get(entry.job_seq);
      existing.set(i, {
        id: entry.job_seq,
        created: false,
        job: job ?? null,
        state: job?.state ?? entry.state,
        result:
          job !== undefined ? job.result : entry.state === 'succeeded' ? entry.result : undefined,
      });
    }
    return existing;
  }

  /**
   * Cancels the jobs just created (of `toCreate`) that depend on a dead or cancelled job, as
   * the contract's cascade would have (lastError, a `cancelled` attempt). Returns the lastError
   * of each job cancelled, by seq.
   */
  async #cancelOnEnqueue(
    c: pg.PoolClient,
    toCreate: readonly number[],
    normalized: readonly NormalizedEnqueue[],
    seqOf: ReadonlyMap<number, string>,
    ended: ReadonlyMap<string, JobState>,
    now: number,
  ): Promise<ReadonlyMap<string, string>> {
    const cancel = new Map<string, string>();
    for (const i of toCreate) {
      const dep = normalized[i]?.dependsOn.find((d) => ended.has(d));
      const seq = seqOf.get(i);
      if (dep !== undefined && seq !== undefined) {
        cancel.set(seq, dependencyEndedError(dep, ended.get(dep) ?? 'cancelled'));
      }
    }
    if (cancel.size > 0) {
      await this.#ctx.conn.q(
        CANCEL_ON_ENQUEUE,
        [[...cancel.keys()], [...cancel.values()], now, this.#ctx.attemptPayloads],
        c,
      );
    }
    return cancel;
  }

  /**
   * One INSERT of many jobs (with their NOTIFY); their seqs in input order (`seqs` when
   * given, else assigned by the identity in input order: the statement inserts in that order).
   */
  async #insertJobs(
    on: Queryable,
    ns: readonly NormalizedEnqueue[],
    seqs: readonly string[] | null,
    now: number,
  ): Promise<readonly string[]> {
    const [row] = await this.#ctx.conn.q<{ seqs: string[] | null }>(
      seqs === null ? INSERT_JOBS : INSERT_JOBS_WITH_SEQ,
      [jobTuples(ns, seqs), now, ...this.#ctx.notifier.params],
      on,
    );
    const inserted = row?.seqs ?? [];
    if (inserted.length !== ns.length) throw new Error('insert returned fewer jobs than given');
    return seqs ?? inserted;
  }

  /** The jobs of `seqs` by seq, with their dependencies. */
  async jobsBySeq(seqs: readonly string[], on?: Queryable): Promise<Map<string, JobRecord>> {
    if (seqs.length === 0) return new Map();
    const rows = await this.#ctx.conn.q<JobRow>(JOBS_BY_SEQ, [seqs], on);
    return new Map(rows.map((r) => [r.seq, toRecord(r)]));
  }

  // ------------------------------------------------------------------ claim

  /** `JobStore.claim`: one statement, `CLAIM_JOBS`. */
  async claim(options: ClaimOptions): Promise<JobRecord[]> {
    const agingMs = checkClaim(options);
    const { conn, clock } = this.#ctx;
    await this.#ctx.ready();
    const now = clock.now();
    const weights: Record<string, number> = {};
    for (const [k, w] of Object.entries(options.weights ?? {})) {
      weights[k] = w > 0 && Number.isFinite(w) ? w : 1;
    }
    const aging = Number.isFinite(agingMs) ? Math.max(1, Math.floor(agingMs)) : 0;
    const values = [
      now,
      aging,
      options.limit,
      options.workerId,
      Math.ceil(options.leaseMs),
      options.queues ?? null,
      options.names ?? null,
      JSON.stringify(weights),
      this.#ctx.attemptPayloads,
    ];
    // The server would plan this statement afresh at every claim (~2 ms of CPU, more than
    // running it for 500 jobs): the plan cache keeps a custom plan while the generic plan's
    // estimated cost (LIMIT $3 guessed at a tenth of the table) is higher, which it always is.
    // The generic plan has the same shape (per fairness key an index scan in the order of
    // the claim), so it is forced: on the store's own pool by the connection's setting (one
    // statement, one round trip); on a pool passed in, for this statement only, by SET LOCAL
    // in a transaction around it (four round trips, three more commands for the server).
    const rows =
      conn.prepare && !conn.ownsPool
        ? await conn.tx(async (c) => {
            await c.query('SET LOCAL plan_cache_mode = force_generic_plan');
            return conn.q<JobRow>(CLAIM_JOBS, values, c);
          })
        : await conn.q<JobRow>(CLAIM_JOBS, values);
    return rows.map(toRecord);
  }

  // ------------------------------------------------------- compare-and-sets

  /** Splits a batch CAS result into accepted ids and refusals (re-reading contradictory ones). */
  async #settle(rows: readonly SettleRow[]): Promise<SettleResult> {
    const accepted: string[] = [];
    const refused: Refusal[] = [];
    const acceptedSeqs = new Set(rows.filter((r) => r.ok).map((r) => r.seq));
    // The statement's snapshot can predate a concurrent change (or an earlier copy of the
    // same id in this batch): re-read those after the fact.
    const unclear = rows.filter(
      (r) =>
        !r.ok &&
        r.state !== null &&
        (acceptedSeqs.has(r.seq) || (r.state === 'leased' && r.cur === r.epoch)),
    );
    const now = new Map<string, { state: JobState; epoch: string }>();
    if (unclear.length > 0) {
      const fresh = await this.#ctx.conn.q<{ seq: string; state: JobState; epoch: string }>(
        JOB_STATES,
        [unclear.map((r) => r.seq)],
      );
      for (const f of fresh) now.set(f.seq, f);
    }
    for (const r of rows) {
      const id = r.seq;
      if (r.ok) {
        accepted.push(id);
        continue;
      }
      const epoch = Number(r.epoch);
      const current =
        now.get(r.seq) ?? (r.state === null ? undefined : { state: r.state, epoch: r.cur ?? '0' });
      if (current === undefined) {
        refused.push({ id, epoch, reason: 'not-found' });
        continue;
      }
      const currentEpoch = Number(current.epoch);
      refused.push({
        id,
        epoch,
        reason: currentEpoch !== epoch ? 'stale-epoch' : 'not-leased',
        state: current.state,
        currentEpoch,
      });
    }
    return { accepted, refused };
  }

  /** `JobStore.heartbeat`. */
  async heartbeat(leases: readonly LeaseRef[], leaseMs: number): Promise<SettleResult> {
    await this.#ctx.ready();
    if (leases.length === 0) return { accepted: [], refused: [] };
    const now = this.#ctx.clock.now();
    const rows = await this.#ctx.conn.q<SettleRow>(HEARTBEAT, [
      leases.map((l) => toSeq(l.id)),
      leases.map((l) => l.epoch),
      now + Math.ceil(leaseMs),
      now,
    ]);
    return this.#settle(withIds(withAccepted(rows, leases), leases));
  }

  /** `JobStore.release`. */
  async release(leases: readonly LeaseRef[]): Promise<SettleResult> {
    await this.#ctx.ready();
    if (leases.length === 0) return { accepted: [], refused: [] };
    const now = this.#ctx.clock.now();
    const rows = await this.#ctx.conn.q<
      SettleRow & { queue: string | null; run_at: string | null }
    >(RELEASE, [
      leases.map((l) => toSeq(l.id)),
      leases.map((l) => l.epoch),
      now,
      ...this.#ctx.notifier.params,
    ]);
    this.#ctx.notifier.emitLocal(
      rows.flatMap((r) =>
        r.ok && r.queue !== null ? [{ queue: r.queue, runAt: r.run_at ?? now }] : [],
      ),
      (r) => r.runAt,
    );
    return this.#settle(withIds(rows, leases));
  }

  /** `JobStore.complete`; with `onComplete`, the hook runs in the completion's transaction. */
  async complete(completions: readonly CompleteInput[]): Promise<SettleResult> {
    const { conn, clock } = this.#ctx;
    await this.#ctx.ready();
    if (completions.length === 0) return { accepted: [], refused: [] };
    const now = clock.now();
    const values = [
      completions.map((c) => toSeq(c.id)),
      completions.map((c) => c.epoch),
      completions.map((c) => json(c.result)),
      now,
      this.#ctx.attemptPayloads,
    ];
    type Row = SettleRow & { queue: string | null; name: string | null; res: unknown };
    const hook = this.#ctx.onComplete;
    if (hook === undefined) {
      const refused = await conn.q<Row>(COMPLETE, values);
      return this.#settle(withIds(withAccepted(refused, completions), completions));
    }
    const rows = await conn.tx(async (c) => {
      const out = withIds(await conn.q<Row>(COMPLETE_ALL_ROWS, values, c), completions);
      const done: CompletedJob[] = out
        .filter((r) => r.ok)
        .map((r) => ({
          id: r.seq,
          epoch: Number(r.epoch),
          queue: r.queue ?? '',
          name: r.name ?? '',
          result: r.res,
        }));
      if (done.length > 0) await hook(c, done);
      return out;
    });
    return this.#settle(rows);
  }

  /** `JobStore.fail`. */
  async fail(failures: readonly FailInput[]): Promise<FailResult> {
    await this.#ctx.ready();
    if (failures.length === 0) return { accepted: [], refused: [], retrying: [], dead: [] };
    const now = this.#ctx.clock.now();
    type Row = SettleRow & { new_state: JobState | null };
    const rows = withIds(
      await this.#ctx.conn.q<Row>(FAIL, [
        failures.map((f) => toSeq(f.id)),
        failures.map((f) => f.epoch),
        // Error texts are kept, not refused: U+0000 (which PostgreSQL refuses) becomes U+FFFD.
        failures.map((f) => storableText(f.error)),
        failures.map((f) => Math.floor(f.retryAt ?? now)),
        failures.map((f) => f.dead === true),
        now,
        failures.map((f) => retryDelay(f.delayMs)),
        this.#ctx.attemptPayloads,
      ]),
      failures,
    );
    const settled = await this.#settle(rows);
    return {
      ...settled,
      retrying: rows.filter((r) => r.ok && r.new_state === 'failed').map((r) => r.seq),
      dead: rows.filter((r) => r.ok && r.new_state === 'dead').map((r) => r.seq),
    };
  }
}
