/**
 * The `RunStore` conformance suite: chunks leased, checkpointed, resumed at
 * the first unfinished one, handed back, completed; pause, resume, cancel;
 * run idempotency; failed chunk attempts (in `run-store-lifecycle.ts`); and
 * hardening: ids and chunk counts checked alike in every store, inputs the
 * store cannot keep refused, error texts with U+0000 kept, and the
 * `onCheckpoint` hook called for real checkpoints only.
 */
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from 'batchflight/core';
import {
  RunWorker,
  UnstorableValueError,
  type AcceptedCheckpoint,
  type RunHandler,
  type RunSlice,
  type RunStore,
} from 'batchflight/jobs';
import { MAX_RUN_CHUNKS } from 'batchflight/kit';
import { rejection } from '../deferred.js';
import { runLifecycleConformance } from './run-store-lifecycle.js';
import { SUITE_LEASE_MS as LEASE, storeSuiteContext, type JobStoreFactory } from './harness.js';

/**
 * Registers the `RunStore` conformance tests for one store.
 *
 * @example
 * ```ts
 * runStoreConformance('memory', async (clock, options) => new MemoryJobStore({ clock, ...options }));
 * ```
 */
export function runStoreConformance(name: string, factory: JobStoreFactory<RunStore>): void {
  describe(`RunStore conformance: ${name}`, () => {
    const t = storeSuiteContext(factory);
    runLifecycleConformance(t);

    describe('runs', () => {
      it('leases chunks, checkpoints, resumes at the first unfinished chunk', async () => {
        const run = await t.store.createRun({
          name: 'import',
          input: { file: 'x' },
          total: 25,
          chunkSize: 10,
        });
        expect(run).toMatchObject({ state: 'running', chunks: 3, processed: 0, total: 25 });
        const [c0] = await t.store.claimChunks({ workerId: 'w1', limit: 1, leaseMs: LEASE });
        expect(c0).toMatchObject({ index: 0, start: 0, end: 10, offset: 0, epoch: 1 });
        const ref0 = { runId: run.id, index: 0, epoch: c0?.epoch ?? 0 };
        expect(await t.store.checkpointChunk({ ...ref0, offset: 4 })).toBe(true);
        expect((await t.store.getRun(run.id))?.processed).toBe(4);
        // crash: the lease expires and another worker resumes from the checkpoint
        await t.clock.advance(LEASE);
        const [again] = await t.store.claimChunks({ workerId: 'w2', limit: 1, leaseMs: LEASE });
        expect(again).toMatchObject({ index: 0, offset: 4, epoch: 2 });
        expect(await t.store.checkpointChunk({ ...ref0, offset: 8 })).toBe(false);
        expect(await t.store.completeChunk({ runId: run.id, index: 0, epoch: 2 })).toBe(true);
        const rest = await t.store.claimChunks({ workerId: 'w2', limit: 10, leaseMs: LEASE });
        expect(rest.map((c) => [c.index, c.start, c.end])).toEqual([
          [1, 10, 20],
          [2, 20, 25],
        ]);
        for (const c of rest)
          await t.store.completeChunk({ runId: run.id, index: c.index, epoch: c.epoch });
        expect(await t.store.getRun(run.id)).toMatchObject({
          state: 'succeeded',
          processed: 25,
          chunksDone: 3,
        });
      });

      it('a checkpoint with leaseMs 0 hands the chunk back: claimable at once, at its checkpoint', async () => {
        const run = await t.store.createRun({ name: 'r', input: null, total: 10, chunkSize: 10 });
        const [c] = await t.store.claimChunks({ workerId: 'w1', limit: 1, leaseMs: LEASE });
        const ref = { runId: run.id, index: 0, epoch: c?.epoch ?? 0 };
        expect(await t.store.checkpointChunk({ ...ref, offset: 6, leaseMs: 0 })).toBe(true);
        // No time passes: the lease expired at the checkpoint.
        const [again] = await t.store.claimChunks({ workerId: 'w2', limit: 1, leaseMs: LEASE });
        expect(again).toMatchObject({ index: 0, offset: 6, epoch: ref.epoch + 1 });
        expect(await t.store.checkpointChunk({ ...ref, offset: 8 })).toBe(false);
      });

      it('RunWorker.close() mid-chunk: another worker resumes the chunk at its checkpoint at once, every item once', async () => {
        const run = await t.store.createRun({ name: 'r', input: null, total: 40, chunkSize: 20 });
        const seen = new Array<number>(40).fill(0);
        const slices: string[] = [];
        const mark = (worker: string, { chunkIndex, from, to }: RunSlice): void => {
          slices.push(`${worker} ${String(chunkIndex)}:${String(from)}-${String(to)}`);
          for (let i = from; i < to; i++) seen[i] = (seen[i] ?? 0) + 1;
        };
        const worker = (id: string, processSlice: RunHandler['processSlice']) =>
          new RunWorker(
            t.store,
            { r: { sliceSize: 5, processSlice } },
            { clock: t.clock, leaseMs: LEASE, workerId: id },
          );
        let finishSlice!: () => void;
        let inSecondSlice!: () => void;
        const secondSliceStarted = new Promise<void>((resolve) => (inSecondSlice = resolve));
        const first = worker('first', (slice: RunSlice) => {
          mark('first', slice);
          if (slice.from !== 5) return undefined;
          inSecondSlice();
          return new Promise<void>((resolve) => (finishSlice = resolve));
        });
        await secondSliceStarted;
        const closed = first.close();
        finishSlice(); // the slice in progress ends and is checkpointed; then the chunk is handed back
        await closed;
        expect(first.stats()).toMatchObject({ items: 10, chunksDone: 0, errors: 0 });
        expect((await t.store.getRun(run.id))?.processed).toBe(10);
        // The clock has not moved: without the hand-back the chunk would be leased for LEASE ms.
        const second = worker('second', (slice: RunSlice) => {
          mark('second', slice);
        });
        await second.drain();
        await second.close();
        expect(slices).toEqual([
          'first 0:0-5',
          'first 0:5-10',
          'second 0:10-15',
          'second 0:15-20',
          'second 1:20-25',
          'second 1:25-30',
          'second 1:30-35',
          'second 1:35-40',
        ]);
        expect(seen.every((n) => n === 1)).toBe(true);
        expect(await t.store.getRun(run.id)).toMatchObject({
          state: 'succeeded',
          processed: 40,
          chunksDone: 2,
        });
      });

      it('pause, resume and cancel', async () => {
        const run = await t.store.createRun({ name: 'r', input: null, total: 4, chunkSize: 1 });
        expect(await t.store.pauseRun(run.id)).toBe(true);
        expect(await t.store.claimChunks({ workerId: 'w', limit: 10, leaseMs: LEASE })).toEqual([]);
        expect(await t.store.resumeRun(run.id)).toBe(true);
        const [c] = await t.store.claimChunks({ workerId: 'w', limit: 1, leaseMs: LEASE });
        expect(await t.store.cancelRun(run.id)).toBe(true);
        expect(
          await t.store.completeChunk({
            runId: run.id,
            index: c?.index ?? 0,
            epoch: c?.epoch ?? 0,
          }),
        ).toBe(false);
        expect((await t.store.getRun(run.id))?.state).toBe('cancelled');
        expect(await t.store.claimChunks({ workerId: 'w', limit: 10, leaseMs: LEASE })).toEqual([]);
      });

      it('a duplicate idempotency key returns the existing run', async () => {
        const a = await t.store.createRun({
          name: 'r',
          input: 1,
          total: 4,
          chunkSize: 2,
          idempotencyKey: 'r1',
        });
        const b = await t.store.createRun({
          name: 'r',
          input: 1,
          total: 4,
          chunkSize: 2,
          idempotencyKey: 'r1',
        });
        expect(b.id).toBe(a.id);
      });
    });

    describe('hardening', () => {
      it('getRun() refuses an id that is not a string, in every store alike', async () => {
        await expect(t.store.getRun(1 as unknown as string)).rejects.toThrow(/getRun\(\): id/);
      });

      it(`createRun refuses more than MAX_RUN_CHUNKS (${String(MAX_RUN_CHUNKS)}) chunks with an InvalidOptionError`, async () => {
        const huge = t.store.createRun({ name: 'r', input: {}, total: 1e12, chunkSize: 1 });
        await expect(huge).rejects.toThrow(InvalidOptionError);
        await expect(
          t.store.createRun({ name: 'r', input: {}, total: MAX_RUN_CHUNKS + 1, chunkSize: 1 }),
        ).rejects.toThrow(/at most 1000000 chunks.*chunkSize >= 2/);
        const ok = await t.store.createRun({
          name: 'r',
          input: {},
          total: MAX_RUN_CHUNKS * 2,
          chunkSize: 2,
        });
        expect(ok.chunks).toBe(MAX_RUN_CHUNKS);
      });

      it('createRun refuses U+0000 in its name and input', async () => {
        const input = await rejection(
          t.store.createRun({ name: 'r', input: { file: 'a\u0000' }, total: 1, chunkSize: 1 }),
        );
        expect(UnstorableValueError.is(input) && input.path).toBe('input.file');
        const name = await rejection(
          t.store.createRun({ name: 'r\u0000', input: null, total: 1, chunkSize: 1 }),
        );
        expect(InvalidOptionError.is(name)).toBe(true);
      });

      it('error texts with U+0000 are kept with U+FFFD by failChunk, never refused', async () => {
        const run = await t.store.createRun({ name: 'r', input: null, total: 2, chunkSize: 2 });
        const [lease] = await t.store.claimChunks({ workerId: 'w', limit: 1, leaseMs: t.lease });
        if (lease === undefined) throw new Error('no chunk claimed');
        const failChunk = t.store.failChunk?.bind(t.store);
        if (failChunk === undefined) throw new Error('this store does not implement failChunk()');
        expect(
          await failChunk({
            runId: run.id,
            index: lease.index,
            epoch: lease.epoch,
            error: 'x\u0000',
          }),
        ).toBe(true);
        expect((await t.store.getRun(run.id))?.lastError).toBe('x\uFFFD');
      });

      it('onCheckpoint runs for progress or data only, not for lease renewals and hand-backs', async () => {
        const seen: AcceptedCheckpoint[] = [];
        const opened = await t.open({
          onCheckpoint: (checkpoint) => {
            // A hook that reads its data, as an effect writer does: undefined data would throw.
            const data = checkpoint.data as { readonly rows: readonly number[] } | undefined;
            if (data === undefined && checkpoint.to === checkpoint.from) {
              throw new Error('onCheckpoint called without a checkpoint');
            }
            seen.push(checkpoint);
          },
        });
        const store = opened.store;
        try {
          const run = await store.createRun({ name: 'r', input: null, total: 10, chunkSize: 10 });
          const [lease] = await store.claimChunks({ workerId: 'w', limit: 1, leaseMs: t.lease });
          if (lease === undefined) throw new Error('no chunk claimed');
          const ref = { runId: run.id, index: lease.index, epoch: lease.epoch };
          // A heartbeat: same offset, no data. Accepted, and the lease is renewed.
          expect(await store.checkpointChunk({ ...ref, offset: 0, leaseMs: t.lease })).toBe(true);
          expect(
            await store.checkpointChunk({ ...ref, offset: 4, data: { rows: [0, 1, 2, 3] } }),
          ).toBe(true);
          // Another heartbeat at the new offset, then data with no progress (still a checkpoint).
          expect(await store.checkpointChunk({ ...ref, offset: 4, leaseMs: t.lease })).toBe(true);
          expect(await store.checkpointChunk({ ...ref, offset: 4, data: { rows: [] } })).toBe(true);
          // A hand-back (leaseMs 0) at the same offset.
          expect(await store.checkpointChunk({ ...ref, offset: 4, leaseMs: 0 })).toBe(true);
          expect(seen.map((c) => [c.from, c.to])).toEqual([
            [0, 4],
            [4, 4],
          ]);
          expect(await store.getRun(run.id)).toMatchObject({ processed: 4 });
          const [again] = await store.claimChunks({ workerId: 'w2', limit: 1, leaseMs: t.lease });
          expect(again).toMatchObject({ index: 0, offset: 4 });
        } finally {
          await opened.store.close();
          await opened.cleanup?.();
        }
      });
    });
  });
}
