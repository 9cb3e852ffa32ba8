/* The contract is async; this store is synchronous inside, so its methods await nothing. */
/* eslint-disable @typescript-eslint/require-await */
/**
 * The `RunStore` half of `MemoryJobStore`: runs and their chunks, kept apart
 * from the jobs because nothing of one touches the other (the durable stores
 * split them the same way, `runs` beside `jobs`). The memory store hands its
 * run methods to this one; the run state machine itself is the shared one of
 * `transitions.ts`, written here only as this store's storage primitives.
 */
import type { Clock } from '../core/index.js';
import { JobConflictError } from './errors.js';
import { checkClaim, checkId, normalizeRun, runFingerprint } from './store-kit.js';
import { storableText } from './store-json.js';
import { RUN_TRANSITIONS, chunkFailed, transitionRun, type RunMachine } from './transitions.js';
import type {
  AcceptedCheckpoint,
  CheckpointInput,
  ChunkLease,
  ChunkRef,
  ChunkState,
  ClaimChunksOptions,
  CreateRunSpec,
  FailChunkInput,
  RunRecord,
  RunState,
  RunStore,
} from './run-store.js';

/** What {@link MemoryRuns} needs of the store it serves. */
export interface MemoryRunsHost {
  readonly clock: Clock;
  /** See `MemoryJobStoreOptions.onCheckpoint`. */
  readonly onCheckpoint: ((checkpoint: AcceptedCheckpoint) => void) | undefined;
  /** Throws the store's `ClosedError` once it is closed. */
  readonly check: () => void;
}

/** A JSON copy: what the store hands out is never the object it keeps. */
export const clone = <T>(value: T): T =>
  value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);

interface Chunk {
  index: number;
  start: number;
  end: number;
  offset: number;
  state: ChunkState;
  epoch: number;
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  /** Failed attempts since the checkpoint last moved. */
  attempts: number;
  /** A pending chunk is not claimable before this time (a retry after a failure). */
  notBefore: number;
}

interface Run {
  id: string;
  seq: number;
  name: string;
  input: unknown;
  state: RunState;
  total: number;
  chunkSize: number;
  /** `ceil(total / chunkSize)`. */
  chunkCount: number;
  /**
   * The chunks issued so far, by index: a claim issues the next ones on demand, so a run of
   * many chunks costs memory for the chunks begun, not for all of them up front.
   */
  chunks: Chunk[];
  maxChunkAttempts: number;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

/** The runs of one memory store (its owner opens and closes it); see the module comment. */
export class MemoryRuns implements Omit<RunStore, 'init' | 'close'> {
  readonly #clock: Clock;
  readonly #onCheckpoint: MemoryRunsHost['onCheckpoint'];
  readonly #check: () => void;
  readonly #runs = new Map<string, Run>();
  readonly #runKeys = new Map<string, string>();
  #runSeq = 0;

  constructor(host: MemoryRunsHost) {
    this.#clock = host.clock;
    this.#onCheckpoint = host.onCheckpoint;
    this.#check = host.check;
  }

  #runView(run: Run): RunRecord {
    let processed = 0;
    let done = 0;
    for (const c of run.chunks) {
      processed += c.offset - c.start;
      if (c.state === 'done') done++;
    }
    return Object.freeze({
      id: run.id,
      name: run.name,
      input: clone(run.input),
      state: run.state,
      total: run.total,
      chunkSize: run.chunkSize,
      chunks: run.chunkCount,
      chunksDone: done,
      processed,
      createdAt: run.createdAt,
      updatedAt: run.updatedAt,
      finishedAt: run.finishedAt,
      ...(run.lastError === null ? {} : { lastError: run.lastError }),
    });
  }

  async createRun(spec: CreateRunSpec): Promise<RunRecord> {
    this.#check();
    const n = normalizeRun(spec);
    if (n.idempotencyKey !== null) {
      const existing = this.#runKeys.get(n.idempotencyKey);
      const run = existing === undefined ? undefined : this.#runs.get(existing);
      if (run !== undefined) {
        if (runFingerprint(run) !== runFingerprint(n)) {
          throw new JobConflictError('', n.idempotencyKey, run.id, { kind: 'run' });
        }
        return this.#runView(run);
      }
    }
    const now = this.#clock.now();
    const seq = ++this.#runSeq;
    const run: Run = {
      id: `run-${String(seq)}`,
      seq,
      name: n.name,
      input: n.input,
      state: n.chunks === 0 ? 'succeeded' : 'running',
      total: n.total,
      chunkSize: n.chunkSize,
      chunkCount: n.chunks,
      chunks: [],
      maxChunkAttempts: n.maxChunkAttempts,
      lastError: null,
      createdAt: now,
      updatedAt: now,
      finishedAt: n.chunks === 0 ? now : null,
    };
    this.#runs.set(run.id, run);
    if (n.idempotencyKey !== null) this.#runKeys.set(n.idempotencyKey, run.id);
    return this.#runView(run);
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    this.#check();
    checkId('getRun', id);
    const run = this.#runs.get(id);
    return run === undefined ? undefined : this.#runView(run);
  }

  async claimChunks(options: ClaimChunksOptions): Promise<ChunkLease[]> {
    this.#check();
    checkClaim(options);
    const now = this.#clock.now();
    const names = options.names === undefined ? undefined : new Set(options.names);
    const out: ChunkLease[] = [];
    const runs = [...this.#runs.values()].sort((a, b) => a.seq - b.seq);
    for (const run of runs) {
      if (options.runId !== undefined && run.id !== options.runId) continue;
      if (names !== undefined && !names.has(run.name)) continue;
      for (const c of run.chunks) {
        if (out.length >= options.limit || run.state !== 'running') break;
        const expired = c.state === 'leased' && (c.leaseExpiresAt ?? 0) <= now;
        if (!(expired || (c.state === 'pending' && c.notBefore <= now))) continue;
        // A lease that ran out is a failed attempt: its holder died or hung.
        if (expired && chunkFailed(this.#runMachine, run, c, 'lease expired', now)) continue;
        c.state = 'leased';
        c.epoch += 1;
        c.leaseOwner = options.workerId;
        c.leaseExpiresAt = now + options.leaseMs;
        out.push({
          runId: run.id,
          name: run.name,
          index: c.index,
          start: c.start,
          end: c.end,
          offset: c.offset,
          epoch: c.epoch,
          leaseExpiresAt: c.leaseExpiresAt,
        });
      }
      // Then the chunks never issued, in index order: after every issued one.
      while (
        out.length < options.limit &&
        run.state === 'running' &&
        run.chunks.length < run.chunkCount
      ) {
        const index = run.chunks.length;
        const start = index * run.chunkSize;
        const c: Chunk = {
          index,
          start,
          end: Math.min(run.total, start + run.chunkSize),
          offset: start,
          state: 'leased',
          epoch: 1,
          leaseOwner: options.workerId,
          leaseExpiresAt: now + options.leaseMs,
          attempts: 0,
          notBefore: 0,
        };
        run.chunks.push(c);
        out.push({
          runId: run.id,
          name: run.name,
          index,
          start: c.start,
          end: c.end,
          offset: c.offset,
          epoch: c.epoch,
          leaseExpiresAt: now + options.leaseMs,
        });
      }
    }
    return out;
  }

  /** The storage primitives of the shared run state machine (`transitions.ts`) on this store's runs. */
  readonly #runMachine: RunMachine<Run, Chunk> = {
    setState: (id, from, to, now) => {
      const run = this.#runs.get(id);
      if (run === undefined || !from.includes(run.state)) return undefined;
      run.state = to;
      run.updatedAt = now;
      if (to === 'cancelled') run.finishedAt = now;
      return run;
    },
    handBack: (run) => {
      for (const c of run.chunks) {
        if (c.state !== 'leased') continue;
        c.state = 'pending';
        c.leaseOwner = null;
        c.leaseExpiresAt = null;
      }
    },
    retryFailedChunks: (run) => {
      for (const c of run.chunks) {
        if (c.state !== 'failed') continue;
        c.state = 'pending';
        c.attempts = 0;
        c.notBefore = 0;
      }
    },
    fenceLeasedChunks: (run) => {
      for (const c of run.chunks) if (c.state === 'leased') c.epoch += 1;
    },
    countFailure: (run, c, error, now) => {
      c.attempts += 1;
      run.lastError = error;
      run.updatedAt = now;
      return { attempts: c.attempts, max: run.maxChunkAttempts };
    },
    failChunkAndRun: (run, c) => {
      c.state = 'failed';
      c.leaseOwner = null;
      c.leaseExpiresAt = null;
      run.state = 'failed';
    },
  };

  #chunkCas(ref: ChunkRef): { run: Run; chunk: Chunk } | undefined {
    const run = this.#runs.get(ref.runId);
    const chunk = run?.chunks[ref.index];
    if (run === undefined || chunk === undefined) return undefined;
    // Only a running run's chunks move: pause, failure and cancel stop their holders here.
    if (run.state !== 'running' || chunk.state !== 'leased' || chunk.epoch !== ref.epoch) {
      return undefined;
    }
    return { run, chunk };
  }

  /** Runs `apply` on the chunk `ref` holds, when its compare-and-set passes; false otherwise. */
  #onChunk(ref: ChunkRef, apply: (run: Run, chunk: Chunk, now: number) => void): boolean {
    this.#check();
    const found = this.#chunkCas(ref);
    if (found === undefined) return false;
    apply(found.run, found.chunk, this.#clock.now());
    return true;
  }

  async checkpointChunk(input: CheckpointInput): Promise<boolean> {
    return this.#onChunk(input, (run, chunk, now) => {
      this.#checkpoint(run, chunk, input, now);
    });
  }

  #checkpoint(run: Run, chunk: Chunk, input: CheckpointInput, now: number): void {
    const offset = Math.min(chunk.end, Math.max(chunk.offset, Math.floor(input.offset)));
    // A lease renewal or hand-back (no progress, no data) is not a checkpoint for the hook.
    if (offset > chunk.offset || input.data !== undefined) {
      this.#onCheckpoint?.({
        runId: run.id,
        index: chunk.index,
        epoch: chunk.epoch,
        from: chunk.offset,
        to: offset,
        data: input.data,
      });
    }
    if (offset > chunk.offset) chunk.attempts = 0; // progress: not a poison chunk
    chunk.offset = offset;
    if (input.leaseMs !== undefined && input.leaseMs <= 0) {
      chunk.state = 'pending';
      chunk.leaseOwner = null;
      chunk.leaseExpiresAt = null;
    } else if (input.leaseMs !== undefined) chunk.leaseExpiresAt = now + input.leaseMs;
    run.updatedAt = now;
  }

  async completeChunk(input: ChunkRef): Promise<boolean> {
    return this.#onChunk(input, (run, chunk, now) => {
      chunk.state = 'done';
      chunk.offset = chunk.end;
      chunk.leaseOwner = null;
      chunk.leaseExpiresAt = null;
      run.updatedAt = now;
      if (run.chunks.length === run.chunkCount && run.chunks.every((c) => c.state === 'done')) {
        run.state = 'succeeded';
        run.finishedAt = now;
      }
    });
  }

  async failChunk(input: FailChunkInput): Promise<boolean> {
    return this.#onChunk(input, (run, chunk, now) => {
      if (chunkFailed(this.#runMachine, run, chunk, storableText(input.error), now)) return;
      chunk.state = 'pending';
      chunk.leaseOwner = null;
      chunk.leaseExpiresAt = null;
      chunk.notBefore = Math.floor(input.retryAt ?? now);
    });
  }

  #transition(
    id: string,
    t: { readonly from: readonly RunState[]; readonly to: RunState },
  ): boolean {
    return transitionRun(this.#runMachine, id, t.from, t.to, this.#clock.now());
  }

  async pauseRun(id: string): Promise<boolean> {
    this.#check();
    return this.#transition(id, RUN_TRANSITIONS.pause);
  }

  async resumeRun(id: string): Promise<boolean> {
    this.#check();
    return this.#transition(id, RUN_TRANSITIONS.resume);
  }

  async cancelRun(id: string): Promise<boolean> {
    this.#check();
    return this.#transition(id, RUN_TRANSITIONS.cancel);
  }
}
