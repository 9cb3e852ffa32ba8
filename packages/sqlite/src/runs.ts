/**
 * The runs of a `SqliteJobStore` (`RunStore`): a run's chunk rows are written
 * when a claim first leases them; checkpoints (with the transactional
 * `onCheckpoint` hook), completion, failed attempts up to `maxChunkAttempts`,
 * pause, resume and cancel.
 */
import {
  JobConflictError,
  type CheckpointInput,
  type ChunkLease,
  type ChunkRef,
  type ClaimChunksOptions,
  type CreateRunSpec,
  type FailChunkInput,
  type RunRecord,
  type RunState,
} from 'batchflight/jobs';
import {
  checkClaim,
  checkId,
  normalizeRun,
  runFingerprint,
  storableText,
  RUN_TRANSITIONS,
  chunkFailed,
  transitionRun,
  type RunMachine,
} from 'batchflight/kit';
import { rejected, type SqliteConnection } from './connection.js';
import { toSeq, type ChunkRow, type RunRow } from './rows.js';
import { runMachine } from './transitions.js';
import {
  CHECKPOINT_CHUNK_UPDATE_CHUNKS,
  CHECKPOINT_CHUNK_UPDATE_RUNS,
  CHUNK_CAS_SELECT_CHUNKS,
  CLAIM_CHUNKS_SELECT_CHUNKS,
  CLAIM_CHUNKS_UPDATE_CHUNKS,
  COMPLETE_CHUNK_SELECT_CHUNKS,
  COMPLETE_CHUNK_UPDATE_CHUNKS,
  COMPLETE_CHUNK_UPDATE_RUNS,
  CREATE_RUN_INSERT_RUNS,
  CREATE_RUN_SELECT_RUNS,
  FAIL_CHUNK_UPDATE_CHUNKS,
  ISSUE_CHUNKS_INSERT_CHUNKS,
  ISSUE_CHUNKS_SELECT_RUNS,
  ISSUE_CHUNKS_UPDATE_RUNS,
  RUN_RECORD_SELECT_CHUNKS,
  RUN_RECORD_SELECT_RUNS,
} from './sql/generated.js';

/** The `RunStore` of one store, on its connection. */
export class SqliteRuns {
  readonly #c: SqliteConnection;
  readonly #runMachine: RunMachine<number, number>;

  constructor(connection: SqliteConnection) {
    this.#c = connection;
    this.#runMachine = runMachine(connection);
  }

  #runRecord(seq: number): RunRecord | undefined {
    const run = this.#c.stmt(RUN_RECORD_SELECT_RUNS).get(seq) as RunRow | undefined;
    if (run === undefined) return undefined;
    const agg = this.#c.stmt(RUN_RECORD_SELECT_CHUNKS).get(seq) as {
      processed: number;
      done: number;
    };
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
        const existing = this.#c.stmt(CREATE_RUN_SELECT_RUNS).get(n.idempotencyKey) as
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
        .stmt(CREATE_RUN_INSERT_RUNS)
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
        .stmt(CLAIM_CHUNKS_SELECT_CHUNKS)
        .all(
          options.runId === undefined ? null : toSeq(options.runId),
          options.names === undefined ? null : JSON.stringify(options.names),
          now,
          options.limit,
        ) as { run_seq: number; idx: number; state: string; name: string }[];
      const lease = this.#c.stmt(CLAIM_CHUNKS_UPDATE_CHUNKS);
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
      .stmt(ISSUE_CHUNKS_SELECT_RUNS)
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
    const insert = this.#c.stmt(ISSUE_CHUNKS_INSERT_CHUNKS);
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
        this.#c.stmt(ISSUE_CHUNKS_UPDATE_RUNS).run(issued, run.seq);
      }
      if (out.length >= options.limit) return;
    }
  }

  #chunkCas(ref: ChunkRef): ChunkRow | undefined {
    // Only a running run's chunks move: pause, failure and cancel stop their holders here.
    return this.#c.stmt(CHUNK_CAS_SELECT_CHUNKS).get(toSeq(ref.runId), ref.index, ref.epoch) as
      ChunkRow | undefined;
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
        .stmt(CHECKPOINT_CHUNK_UPDATE_CHUNKS)
        .run(
          to,
          input.leaseMs === undefined ? null : now + input.leaseMs,
          chunk.run_seq,
          chunk.idx,
          handBack ? 1 : 0,
        );
      this.#c.stmt(CHECKPOINT_CHUNK_UPDATE_RUNS).run(now, chunk.run_seq);
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
      this.#c.stmt(COMPLETE_CHUNK_UPDATE_CHUNKS).run(chunk.run_seq, chunk.idx);
      // Chunks never issued are not done either.
      const left = this.#c.stmt(COMPLETE_CHUNK_SELECT_CHUNKS).get(chunk.run_seq) as { n: number };
      this.#c.stmt(COMPLETE_CHUNK_UPDATE_RUNS).run(now, left.n, chunk.run_seq);
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
          .stmt(FAIL_CHUNK_UPDATE_CHUNKS)
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
