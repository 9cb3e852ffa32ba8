/**
 * Runs of the PostgreSQL store: a run's items in chunks, each chunk leased,
 * checkpointed and completed like a job (`sql/runs.sql`). A run's chunk rows
 * are written when a claim first leases them, not all at `createRun`.
 */
import type pg from 'pg';
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
import { checkClaim, checkId, normalizeRun, runFingerprint, storableText } from 'batchflight/kit';
import type { Queryable } from './connection.js';
import { num, toSeq, type StoreContext } from './context.js';
import {
  CHECKPOINT_CHUNK,
  CLAIM_CHUNKS,
  COMPLETE_CHUNK,
  FAIL_CHUNK,
  FINISH_RUN,
  INSERT_RUN,
  ISSUE_CHUNKS,
  LOCK_LEASED_CHUNK,
  RUN_BY_KEY,
  RUN_RECORD,
  RUN_TRANSITION,
} from './sql/generated.js';

interface RunRow {
  seq: string;
  name: string;
  input: unknown;
  state: RunState;
  total: string;
  chunk_size: string;
  chunks: string;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
  processed: string;
  done: number;
  last_error: string | null;
}

interface ChunkRow {
  run_seq: string;
  idx: string;
  name: string;
  start: string;
  end_at: string;
  offset_at: string;
  epoch: string;
}

/** The run statements of one store. */
export class PgRuns {
  readonly #ctx: StoreContext;

  /** The run statements of the store `ctx` belongs to. */
  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  async #runRecord(seq: string, on?: Queryable): Promise<RunRecord | undefined> {
    const [r] = await this.#ctx.conn.q<RunRow>(RUN_RECORD, [seq], on);
    if (r === undefined) return undefined;
    return Object.freeze({
      id: r.seq,
      name: r.name,
      input: r.input,
      state: r.state,
      total: Number(r.total),
      chunkSize: Number(r.chunk_size),
      chunks: Number(r.chunks),
      chunksDone: r.done,
      processed: Number(r.processed),
      createdAt: Number(r.created_at),
      updatedAt: Number(r.updated_at),
      finishedAt: num(r.finished_at),
      ...(r.last_error === null ? {} : { lastError: r.last_error }),
    });
  }

  /** `RunStore.createRun`: idempotent by key (a different spec under the key is a conflict). */
  async createRun(spec: CreateRunSpec): Promise<RunRecord> {
    const run = normalizeRun(spec);
    const n = run.chunks;
    const { conn, clock } = this.#ctx;
    await this.#ctx.ready();
    const now = clock.now();
    return conn.tx(async (c) => {
      const [inserted] = await conn.q<{ seq: string }>(
        INSERT_RUN,
        [
          run.name,
          run.inputJson,
          n === 0 ? 'succeeded' : 'running',
          run.total,
          run.chunkSize,
          n,
          run.idempotencyKey,
          now,
          n === 0 ? now : null,
          run.maxChunkAttempts,
        ],
        c,
      );
      let seq = inserted?.seq;
      if (seq === undefined) {
        const [existing] = await conn.q<{ seq: string }>(RUN_BY_KEY, [run.idempotencyKey], c);
        seq = existing?.seq;
        if (seq === undefined) throw new Error('run idempotency key vanished during createRun');
        const found = (await this.#runRecord(seq, c)) as RunRecord;
        if (runFingerprint(found) !== runFingerprint(run)) {
          throw new JobConflictError('', run.idempotencyKey ?? '', seq, { kind: 'run' });
        }
        return found;
      }
      // No chunk rows yet: claims issue them on demand (runs.issued, migration 9).
      return (await this.#runRecord(seq, c)) as RunRecord;
    });
  }

  /** `RunStore.getRun`. */
  async getRun(id: string): Promise<RunRecord | undefined> {
    checkId('getRun', id);
    await this.#ctx.ready();
    return this.#runRecord(toSeq(id));
  }

  /**
   * `RunStore.claimChunks`: the claimable issued chunks first (`CLAIM_CHUNKS`), then
   * never-issued ones (`ISSUE_CHUNKS`) up to the limit.
   */
  async claimChunks(options: ClaimChunksOptions): Promise<ChunkLease[]> {
    checkClaim(options);
    await this.#ctx.ready();
    const now = this.#ctx.clock.now();
    const leaseUntil = now + Math.ceil(options.leaseMs);
    const runId = options.runId === undefined ? null : toSeq(options.runId);
    const names = options.names ?? null;
    const rows = await this.#ctx.conn.q<ChunkRow>(CLAIM_CHUNKS, [
      runId,
      names,
      now,
      options.limit,
      options.workerId,
      leaseUntil,
    ]);
    if (rows.length < options.limit) {
      rows.push(
        ...(await this.#ctx.conn.q<ChunkRow>(ISSUE_CHUNKS, [
          runId,
          names,
          options.limit - rows.length,
          options.workerId,
          leaseUntil,
        ])),
      );
    }
    return rows
      .map((c) =>
        Object.freeze({
          runId: c.run_seq,
          name: c.name,
          index: Number(c.idx),
          start: Number(c.start),
          end: Number(c.end_at),
          offset: Number(c.offset_at),
          epoch: Number(c.epoch),
          leaseExpiresAt: leaseUntil,
        }),
      )
      .sort((a, b) => Number(a.runId) - Number(b.runId) || a.index - b.index);
  }

  /** Locks a chunk (and its run) when `ref` still holds its lease. */
  async #chunkCas(
    c: pg.PoolClient,
    ref: ChunkRef,
  ): Promise<{ start: number; end: number; offset: number } | undefined> {
    const [row] = await this.#ctx.conn.q<{ start: string; end_at: string; offset_at: string }>(
      LOCK_LEASED_CHUNK,
      [toSeq(ref.runId), ref.index, ref.epoch],
      c,
    );
    return row === undefined
      ? undefined
      : { start: Number(row.start), end: Number(row.end_at), offset: Number(row.offset_at) };
  }

  /** `RunStore.checkpointChunk`; `onCheckpoint` runs in its transaction for real progress. */
  async checkpointChunk(input: CheckpointInput): Promise<boolean> {
    const { conn, clock } = this.#ctx;
    await this.#ctx.ready();
    const now = clock.now();
    return conn.tx(async (c) => {
      const chunk = await this.#chunkCas(c, input);
      if (chunk === undefined) return false;
      const to = Math.min(chunk.end, Math.max(chunk.offset, Math.floor(input.offset)));
      await conn.q(
        CHECKPOINT_CHUNK,
        [
          to,
          input.leaseMs === undefined ? null : now + Math.ceil(input.leaseMs),
          toSeq(input.runId),
          input.index,
          now,
          input.leaseMs !== undefined && Math.ceil(input.leaseMs) <= 0,
        ],
        c,
      );
      // A lease renewal or hand-back (no progress, no data) is not a checkpoint for the hook.
      if (to > chunk.offset || input.data !== undefined)
        await this.#ctx.onCheckpoint?.(c, {
          runId: input.runId,
          index: input.index,
          epoch: input.epoch,
          from: chunk.offset,
          to,
          data: input.data,
        });
      return true;
    });
  }

  /** `RunStore.completeChunk`: the run finishes with its last chunk. */
  async completeChunk(input: ChunkRef): Promise<boolean> {
    await this.#ctx.ready();
    const now = this.#ctx.clock.now();
    const [done] = await this.#ctx.conn.q<{ pending: boolean }>(COMPLETE_CHUNK, [
      toSeq(input.runId),
      input.index,
      input.epoch,
    ]);
    if (done === undefined) return false;
    // After the commit: of two last chunks completed at once, the later commit sees both done.
    // While chunks wait to be claimed, the run is finished by a later completion (or, should
    // a worker crash between the two statements, by the next claimChunks).
    if (!done.pending) await this.#ctx.conn.q(FINISH_RUN, [toSeq(input.runId), now]);
    return true;
  }

  async #transition(id: string, from: readonly RunState[], to: RunState): Promise<boolean> {
    await this.#ctx.ready();
    const [row] = await this.#ctx.conn.q<{ n: number }>(RUN_TRANSITION, [
      to,
      this.#ctx.clock.now(),
      toSeq(id),
      from,
    ]);
    return row?.n === 1;
  }

  /**
   * `RunStore.failChunk`: a failed attempt of a leased chunk (CAS on its epoch, only while the
   * run is running): the chunk is handed back for a retry at `retryAt`; at the run's
   * `maxChunkAttempts` failed attempts in a row the chunk and the run go `failed` (its other
   * leased chunks are handed back) until `resumeRun`. The error becomes the run's `lastError`.
   */
  async failChunk(input: FailChunkInput): Promise<boolean> {
    await this.#ctx.ready();
    const now = this.#ctx.clock.now();
    const [row] = await this.#ctx.conn.q<{ n: number }>(FAIL_CHUNK, [
      toSeq(input.runId),
      input.index,
      input.epoch,
      storableText(input.error),
      Math.floor(input.retryAt ?? now),
      now,
    ]);
    return row?.n === 1;
  }

  /** `RunStore.pauseRun`. */
  pauseRun(id: string): Promise<boolean> {
    return this.#transition(id, ['running'], 'paused');
  }

  /** `RunStore.resumeRun`. */
  resumeRun(id: string): Promise<boolean> {
    return this.#transition(id, ['paused', 'failed'], 'running');
  }

  /** `RunStore.cancelRun`. */
  cancelRun(id: string): Promise<boolean> {
    return this.#transition(id, ['running', 'paused', 'failed'], 'cancelled');
  }
}
