/**
 * The runs of a `SqliteJobStore` (`RunStore`): a run's chunk rows are written
 * when a claim first leases them; checkpoints (with the transactional
 * `onCheckpoint` hook), completion, failed attempts up to `maxChunkAttempts`,
 * pause, resume and cancel.
 */
import {
  JobConflictError,
  checkClaim,
  checkId,
  normalizeRun,
  runFingerprint,
  storableText,
  type CheckpointInput,
  type ChunkLease,
  type ChunkRef,
  type ClaimChunksOptions,
  type CreateRunSpec,
  type FailChunkInput,
  type RunRecord,
  type RunState,
  RUN_TRANSITIONS,
  chunkFailed,
  transitionRun,
  type RunMachine,
} from 'batchflight/jobs';
import { rejected, type SqliteConnection } from './connection.js';
import { toSeq, type ChunkRow, type RunRow } from './rows.js';
import { runMachine } from './transitions.js';

/** The `RunStore` of one store, on its connection. */
export class SqliteRuns {
  readonly #c: SqliteConnection;
  readonly #runMachine: RunMachine<number, number>;

  constructor(connection: SqliteConnection) {
    this.#c = connection;
    this.#runMachine = runMachine(connection);
  }

  #runRecord(seq: number): RunRecord | undefined {
    const run = this.#c.stmt('SELECT * FROM {p}runs WHERE seq = ?').get(seq) as RunRow | undefined;
    if (run === undefined) return undefined;
    const agg = this.#c
      .stmt(
        `SELECT COALESCE(SUM(offset_at - start), 0) AS processed,
              COALESCE(SUM(state = 'done'), 0) AS done FROM {p}chunks WHERE run_seq = ?`,
      )
      .get(seq) as { processed: number; done: number };
    return Object.freeze({
      id: String(run.seq),
      name: run.name,
      input: JSON.parse(run.input) as unknown,
      state: run.state,
      total: run.total,
      chunkSize: run.chunk_size,
      chunks: run.chunks,
      chunksDone: agg.done,
      processed: agg.processed,
      createdAt: run.created_at,
      updatedAt: run.updated_at,
      finishedAt: run.finished_at,
      ...(run.last_error === null ? {} : { lastError: run.last_error }),
    });
  }

  createRun(spec: CreateRunSpec): Promise<RunRecord> {
    return this.#c.write(() => {
      const n = normalizeRun(spec);
      if (n.idempotencyKey !== null) {
        const existing = this.#c
          .stmt('SELECT seq, name, input, total, chunk_size FROM {p}runs WHERE idempotency_key = ?')
          .get(n.idempotencyKey) as
          | { seq: number; name: string; input: string; total: number; chunk_size: number }
          | undefined;
        if (existing !== undefined) {
          const stored = {
            name: existing.name,
            input: JSON.parse(existing.input) as unknown,
            total: existing.total,
            chunkSize: existing.chunk_size,
          };
          if (runFingerprint(stored) !== runFingerprint(n)) {
            throw new JobConflictError('', n.idempotencyKey, String(existing.seq), { kind: 'run' });
          }
          return this.#runRecord(existing.seq) as RunRecord;
        }
      }
      const now = this.#c.clock.now();
      const { seq } = this.#c
        .stmt(
          `INSERT INTO {p}runs (name, input, state, total, chunk_size, chunks, idempotency_key, created_at, updated_at,
           finished_at, max_chunk_attempts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10) RETURNING seq`,
        )
        .get(
          n.name,
          n.inputJson,
          n.chunks === 0 ? 'succeeded' : 'running',
          n.total,
          n.chunkSize,
          n.chunks,
          n.idempotencyKey,
          now,
          n.chunks === 0 ? now : null,
          n.maxChunkAttempts,
        ) as { seq: number };
      // No chunk rows yet: claims issue them on demand (runs.issued, migration 6).
      return this.#runRecord(seq) as RunRecord;
    });
  }

  getRun(id: string): Promise<RunRecord | undefined> {
    return this.#c.read(() => this.#runRecord(toSeq(checkId('getRun', id))));
  }

  claimChunks(options: ClaimChunksOptions): Promise<ChunkLease[]> {
    try {
      checkClaim(options);
    } catch (error) {
      return rejected(error);
    }
    return this.#c.write(() => {
      const now = this.#c.clock.now();
      const rows = this.#c
        .stmt(
          `SELECT c.run_seq, c.idx, c.state, r.name FROM {p}chunks c JOIN {p}runs r ON r.seq = c.run_seq
         WHERE r.state = 'running' AND (?1 IS NULL OR r.seq = ?1)
           AND (?2 IS NULL OR r.name IN (SELECT value FROM json_each(?2)))
           AND ((c.state = 'pending' AND c.not_before <= ?3) OR (c.state = 'leased' AND c.lease_expires_at <= ?3))
         ORDER BY r.seq, c.idx LIMIT ?4`,
        )
        .all(
          options.runId === undefined ? null : toSeq(options.runId),
          options.names === undefined ? null : JSON.stringify(options.names),
          now,
          options.limit,
        ) as { run_seq: number; idx: number; state: string; name: string }[];
      const lease = this.#c.stmt(
        `UPDATE {p}chunks SET state = 'leased', epoch = epoch + 1, lease_owner = ?1, lease_expires_at = ?2
         WHERE run_seq = ?3 AND idx = ?4 RETURNING *`,
      );
      const failedRuns = new Set<number>();
      const out: ChunkLease[] = [];
      for (const r of rows) {
        if (failedRuns.has(r.run_seq)) continue;
        // A lease that ran out is a failed attempt: its holder died or hung.
        if (
          r.state === 'leased' &&
          chunkFailed(this.#runMachine, r.run_seq, r.idx, 'lease expired', now)
        ) {
          failedRuns.add(r.run_seq);
          continue;
        }
        const c = lease.get(options.workerId, now + options.leaseMs, r.run_seq, r.idx) as ChunkRow;
        out.push(
          Object.freeze({
            runId: String(c.run_seq),
            name: r.name,
            index: c.idx,
            start: c.start,
            end: c.end_at,
            offset: c.offset_at,
            epoch: c.epoch,
            leaseExpiresAt: now + options.leaseMs,
          }),
        );
      }
      if (out.length < options.limit) this.#issueChunks(options, now, failedRuns, out);
      return out.sort((a, b) => Number(a.runId) - Number(b.runId) || a.index - b.index);
    });
  }

  /**
   * Issues and leases the next never-issued chunks of the running runs, in run and index
   * order, until `out` holds `options.limit` leases: a run's chunk rows are written when first
   * claimed, not all at `createRun`.
   */
  #issueChunks(
    options: ClaimChunksOptions,
    now: number,
    skip: ReadonlySet<number>,
    out: ChunkLease[],
  ): void {
    const runs = this.#c
      .stmt(
        `SELECT seq, name, total, chunk_size, chunks, issued FROM {p}runs
       WHERE state = 'running' AND issued < chunks AND (?1 IS NULL OR seq = ?1)
         AND (?2 IS NULL OR name IN (SELECT value FROM json_each(?2)))
       ORDER BY seq`,
      )
      .all(
        options.runId === undefined ? null : toSeq(options.runId),
        options.names === undefined ? null : JSON.stringify(options.names),
      ) as {
      seq: number;
      name: string;
      total: number;
      chunk_size: number;
      chunks: number;
      issued: number;
    }[];
    const insert = this.#c.stmt(
      `INSERT INTO {p}chunks (run_seq, idx, start, end_at, offset_at, state, epoch, lease_owner, lease_expires_at)
       VALUES (?1, ?2, ?3, ?4, ?3, 'leased', 1, ?5, ?6)`,
    );
    const until = now + options.leaseMs;
    for (const run of runs) {
      if (skip.has(run.seq)) continue;
      let issued = run.issued;
      while (issued < run.chunks && out.length < options.limit) {
        const start = issued * run.chunk_size;
        const end = Math.min(run.total, start + run.chunk_size);
        insert.run(run.seq, issued, start, end, options.workerId, until);
        out.push(
          Object.freeze({
            runId: String(run.seq),
            name: run.name,
            index: issued,
            start,
            end,
            offset: start,
            epoch: 1,
            leaseExpiresAt: until,
          }),
        );
        issued++;
      }
      if (issued !== run.issued) {
        this.#c.stmt('UPDATE {p}runs SET issued = ? WHERE seq = ?').run(issued, run.seq);
      }
      if (out.length >= options.limit) return;
    }
  }

  #chunkCas(ref: ChunkRef): ChunkRow | undefined {
    // Only a running run's chunks move: pause, failure and cancel stop their holders here.
    return this.#c
      .stmt(
        `SELECT c.* FROM {p}chunks c JOIN {p}runs r ON r.seq = c.run_seq
       WHERE c.run_seq = ? AND c.idx = ? AND c.epoch = ? AND c.state = 'leased' AND r.state = 'running'`,
      )
      .get(toSeq(ref.runId), ref.index, ref.epoch) as ChunkRow | undefined;
  }

  checkpointChunk(input: CheckpointInput): Promise<boolean> {
    return this.#c.write(() => {
      const chunk = this.#chunkCas(input);
      if (chunk === undefined) return false;
      const now = this.#c.clock.now();
      const to = Math.min(chunk.end_at, Math.max(chunk.offset_at, Math.floor(input.offset)));
      const handBack = input.leaseMs !== undefined && input.leaseMs <= 0;
      // Progress resets the failed-attempt count: a chunk that moves is not a poison chunk.
      this.#c
        .stmt(
          `UPDATE {p}chunks SET offset_at = ?1, attempts = CASE WHEN ?1 > offset_at THEN 0 ELSE attempts END,
           state = CASE WHEN ?5 THEN 'pending' ELSE state END,
           lease_owner = CASE WHEN ?5 THEN NULL ELSE lease_owner END,
           lease_expires_at = CASE WHEN ?5 THEN NULL ELSE COALESCE(?2, lease_expires_at) END
         WHERE run_seq = ?3 AND idx = ?4`,
        )
        .run(
          to,
          input.leaseMs === undefined ? null : now + input.leaseMs,
          chunk.run_seq,
          chunk.idx,
          handBack ? 1 : 0,
        );
      this.#c.stmt('UPDATE {p}runs SET updated_at = ? WHERE seq = ?').run(now, chunk.run_seq);
      // A lease renewal or hand-back (no progress, no data) is not a checkpoint for the hook.
      if (to > chunk.offset_at || input.data !== undefined)
        this.#c.onCheckpoint?.(this.#c.db, {
          runId: input.runId,
          index: input.index,
          epoch: input.epoch,
          from: chunk.offset_at,
          to,
          data: input.data,
        });
      return true;
    });
  }

  completeChunk(input: ChunkRef): Promise<boolean> {
    return this.#c.write(() => {
      const chunk = this.#chunkCas(input);
      if (chunk === undefined) return false;
      const now = this.#c.clock.now();
      this.#c
        .stmt(
          `UPDATE {p}chunks SET state = 'done', offset_at = end_at, lease_owner = NULL, lease_expires_at = NULL
         WHERE run_seq = ? AND idx = ?`,
        )
        .run(chunk.run_seq, chunk.idx);
      // Chunks never issued are not done either.
      const left = this.#c
        .stmt(
          `SELECT (SELECT COUNT(*) FROM {p}chunks WHERE run_seq = ?1 AND state <> 'done')
           + (SELECT chunks - issued FROM {p}runs WHERE seq = ?1) AS n`,
        )
        .get(chunk.run_seq) as { n: number };
      this.#c
        .stmt(
          `UPDATE {p}runs SET updated_at = ?1,
           state = CASE WHEN ?2 = 0 THEN 'succeeded' ELSE state END,
           finished_at = CASE WHEN ?2 = 0 THEN ?1 ELSE finished_at END
         WHERE seq = ?3`,
        )
        .run(now, left.n, chunk.run_seq);
      return true;
    });
  }

  failChunk(input: FailChunkInput): Promise<boolean> {
    return this.#c.write(() => {
      const chunk = this.#chunkCas(input);
      if (chunk === undefined) return false;
      const now = this.#c.clock.now();
      if (
        !chunkFailed(this.#runMachine, chunk.run_seq, chunk.idx, storableText(input.error), now)
      ) {
        this.#c
          .stmt(
            `UPDATE {p}chunks SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL, not_before = ?1
           WHERE run_seq = ?2 AND idx = ?3`,
          )
          .run(Math.floor(input.retryAt ?? now), chunk.run_seq, chunk.idx);
      }
      return true;
    });
  }

  #transition(
    t: { readonly from: readonly RunState[]; readonly to: RunState },
    id: string,
  ): Promise<boolean> {
    return this.#c.write(() =>
      transitionRun(this.#runMachine, id, t.from, t.to, this.#c.clock.now()),
    );
  }

  pauseRun(id: string): Promise<boolean> {
    return this.#transition(RUN_TRANSITIONS.pause, id);
  }

  resumeRun(id: string): Promise<boolean> {
    return this.#transition(RUN_TRANSITIONS.resume, id);
  }

  cancelRun(id: string): Promise<boolean> {
    return this.#transition(RUN_TRANSITIONS.cancel, id);
  }
}
