/**
 * The `RunStore` conformance suite, run lifecycle part: run idempotency
 * fingerprints, pause and cancel refusing the holders of leased chunks (with
 * a live `RunWorker`), and failed chunk attempts up to `maxChunkAttempts`.
 */
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from 'batchflight/core';
import {
  JobConflictError,
  RunWorker,
  type ChunkLease,
  type RunStore,
  type RunHandler,
  type RunSlice,
} from 'batchflight/jobs';
import type { SuiteContext } from './harness.js';

/** A promise and the function that resolves it. */
function gate(): { readonly opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** The failure-report operation every store must have (optional in the type only for now). */
function failChunk(store: RunStore): NonNullable<RunStore['failChunk']> {
  const fn = store.failChunk?.bind(store);
  if (fn === undefined) throw new Error('this store does not implement failChunk()');
  return fn;
}

/** Registers the run lifecycle tests on the suite's per-test store. */
export function runLifecycleConformance(t: SuiteContext<RunStore>): void {
  /** A run of handler `r`, input null. */
  const newRun = (total: number, chunkSize: number, maxChunkAttempts?: number) =>
    t.store.createRun({
      name: 'r',
      input: null,
      total,
      chunkSize,
      ...(maxChunkAttempts === undefined ? {} : { maxChunkAttempts }),
    });

  const claimOne = async (workerId = 'w'): Promise<ChunkLease | undefined> =>
    (await t.store.claimChunks({ workerId, limit: 1, leaseMs: t.lease }))[0];

  /** A RunWorker of handler `r` on the suite's store and clock. */
  const runWorker = (
    processSlice: RunHandler['processSlice'],
    more: { readonly workerId?: string; readonly retryDelayMs?: number } = {},
  ) =>
    new RunWorker(
      t.store,
      { r: { sliceSize: 5, processSlice } },
      { clock: t.clock, leaseMs: t.lease, pollMs: 100, ...more },
    );

  describe('run idempotency', () => {
    it('the same key with another name, input, total or chunk size is a JobConflictError', async () => {
      const spec = { name: 'r', input: { file: 'a' }, total: 4, chunkSize: 2, idempotencyKey: 'k' };
      const a = await t.store.createRun(spec);
      // Same run, object keys in another order, another policy: the existing run.
      const same = await t.store.createRun({ ...spec, input: { file: 'a' }, maxChunkAttempts: 3 });
      expect(same.id).toBe(a.id);
      for (const other of [
        { ...spec, name: 'other' },
        { ...spec, input: { file: 'b' } },
        { ...spec, total: 5 },
        { ...spec, chunkSize: 4 },
      ]) {
        const error = await t.store.createRun(other).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(JobConflictError.is(error), String(error)).toBe(true);
        expect(error).toMatchObject({ kind: 'run', idempotencyKey: 'k', existingId: a.id });
      }
    });

    it('createRun validates maxChunkAttempts', async () => {
      const error = await t.store
        .createRun({ name: 'r', input: null, total: 1, chunkSize: 1, maxChunkAttempts: 0 })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(InvalidOptionError.is(error)).toBe(true);
      expect((error as Error).message).toMatch(/maxChunkAttempts must be an integer >= 1, got 0/);
    });
  });

  describe('pause and cancel stop the holders of leased chunks', () => {
    it('a paused run refuses checkpoints and completions; its chunks resume at the last accepted checkpoint', async () => {
      const run = await newRun(10, 10);
      const c = await claimOne('w1');
      const ref = { runId: run.id, index: 0, epoch: c?.epoch ?? 0 };
      expect(await t.store.checkpointChunk({ ...ref, offset: 4 })).toBe(true);
      expect(await t.store.pauseRun(run.id)).toBe(true);
      expect(await t.store.checkpointChunk({ ...ref, offset: 8 })).toBe(false);
      expect(await t.store.completeChunk(ref)).toBe(false);
      expect(await claimOne('w2')).toBeUndefined();
      expect(await t.store.resumeRun(run.id)).toBe(true);
      // Handed back at the pause: claimable at once, no lease to wait out.
      const again = await claimOne('w2');
      expect(again).toMatchObject({ index: 0, offset: 4, epoch: ref.epoch + 1 });
      expect(await t.store.checkpointChunk({ ...ref, offset: 8 })).toBe(false);
      expect(await t.store.getRun(run.id)).toMatchObject({ state: 'running', processed: 4 });
    });

    it('RunWorker: pausing mid-slice stops the chunk at its last checkpoint; resume finishes the run, every checkpoint once', async () => {
      const run = await newRun(20, 20);
      const slices: string[] = [];
      const inSlice = gate();
      const finishSlice = gate();
      let held = false;
      const worker = runWorker(async ({ from, to }: RunSlice) => {
        slices.push(`${String(from)}-${String(to)}`);
        if (from === 5 && !held) {
          held = true;
          inSlice.open();
          await finishSlice.opened;
        }
      });
      await inSlice.opened;
      expect(await t.store.pauseRun(run.id)).toBe(true);
      finishSlice.open(); // its checkpoint is refused: the slice's effects are never committed
      await worker.drain();
      expect(worker.stats()).toMatchObject({ activeChunks: 0, items: 5, leaseLost: 1 });
      expect(await t.store.getRun(run.id)).toMatchObject({ state: 'paused', processed: 5 });
      await t.clock.advance(100);
      await worker.drain();
      expect(slices).toEqual(['0-5', '5-10']); // paused: nothing claimed
      expect(await t.store.resumeRun(run.id)).toBe(true);
      await t.clock.advance(100);
      await worker.drain();
      expect(slices).toEqual(['0-5', '5-10', '5-10', '10-15', '15-20']);
      expect(worker.stats()).toMatchObject({ items: 20, chunksDone: 1 });
      expect(await t.store.getRun(run.id)).toMatchObject({ state: 'succeeded', processed: 20 });
      await worker.close();
    });

    it('RunWorker: cancelling mid-slice stops the chunk for good', async () => {
      const run = await newRun(20, 10);
      const slices: string[] = [];
      const inSlice = gate();
      const finishSlice = gate();
      const worker = runWorker(async ({ from, to }: RunSlice) => {
        slices.push(`${String(from)}-${String(to)}`);
        if (from === 5) {
          inSlice.open();
          await finishSlice.opened;
        }
      });
      await inSlice.opened;
      expect(await t.store.cancelRun(run.id)).toBe(true);
      finishSlice.open();
      await worker.drain();
      await t.clock.advance(t.lease * 2);
      await worker.drain();
      expect(slices).toEqual(['0-5', '5-10']);
      expect(worker.stats()).toMatchObject({ items: 5, chunksDone: 0, leaseLost: 1 });
      expect(await t.store.getRun(run.id)).toMatchObject({ state: 'cancelled', processed: 5 });
      expect(await claimOne()).toBeUndefined();
      await worker.close();
    });
  });

  describe('failed chunk attempts', () => {
    it('failChunk hands the chunk back for a retry at retryAt; at maxChunkAttempts the chunk and the run fail', async () => {
      const run = await newRun(20, 10, 2);
      const first = await claimOne();
      const ref = { runId: run.id, index: 0, epoch: first?.epoch ?? 0 };
      expect(await t.store.checkpointChunk({ ...ref, offset: 3 })).toBe(true);
      expect(
        await failChunk(t.store)({ ...ref, error: 'boom 1', retryAt: t.clock.now() + 500 }),
      ).toBe(true);
      expect(await failChunk(t.store)({ ...ref, error: 'again' })).toBe(false); // handed back
      expect(await t.store.getRun(run.id)).toMatchObject({ state: 'running', lastError: 'boom 1' });
      expect((await claimOne())?.index).toBe(1); // chunk 0 waits for its retry time
      await t.clock.advance(500);
      const second = await claimOne();
      expect(second).toMatchObject({ index: 0, offset: 3 });
      const ref2 = { runId: run.id, index: 0, epoch: second?.epoch ?? 0 };
      expect(await failChunk(t.store)({ ...ref2, error: 'boom 2' })).toBe(true);
      const failed = await t.store.getRun(run.id);
      expect(failed).toMatchObject({ state: 'failed', lastError: 'boom 2', processed: 3 });
      // The run's other leased chunk (1) was handed back; nothing is claimable.
      expect(await claimOne()).toBeUndefined();
      expect(await t.store.pauseRun(run.id)).toBe(false);
      // Resume retries the failed chunk from its checkpoint with a fresh count.
      expect(await t.store.resumeRun(run.id)).toBe(true);
      const retried = await t.store.claimChunks({ workerId: 'w', limit: 5, leaseMs: t.lease });
      expect(retried.map((c) => [c.index, c.offset])).toEqual([
        [0, 3],
        [1, 10],
      ]);
      const ref3 = { runId: run.id, index: 0, epoch: retried[0]?.epoch ?? 0 };
      expect(await failChunk(t.store)({ ...ref3, error: 'boom 3' })).toBe(true);
      expect((await t.store.getRun(run.id))?.state).toBe('running');
    });

    it('a checkpoint that moves the offset resets the count; an expired lease counts as a failed attempt', async () => {
      const run = await newRun(10, 10, 2);
      let c = await claimOne();
      expect(
        await failChunk(t.store)({ runId: run.id, index: 0, epoch: c?.epoch ?? 0, error: 'x' }),
      ).toBe(true);
      c = await claimOne();
      // Progress: the earlier failure no longer counts.
      expect(
        await t.store.checkpointChunk({ runId: run.id, index: 0, epoch: c?.epoch ?? 0, offset: 2 }),
      ).toBe(true);
      await t.clock.advance(t.lease); // the holder dies: 1 failed attempt
      c = await claimOne();
      expect(c).toMatchObject({ index: 0, offset: 2 });
      await t.clock.advance(t.lease); // and again: 2, the maximum
      expect(await claimOne()).toBeUndefined();
      expect(await t.store.getRun(run.id)).toMatchObject({
        state: 'failed',
        lastError: 'lease expired',
        processed: 2,
      });
    });

    it('RunWorker: a slice that always throws fails the run after maxChunkAttempts; resumeRun retries it', async () => {
      const run = await newRun(10, 10, 3);
      let broken = true;
      const calls: number[] = [];
      const errors: unknown[] = [];
      const worker = runWorker(
        ({ from }: RunSlice) => {
          calls.push(from);
          if (broken && from === 5) throw new Error('poison item');
        },
        // Retried at once: the retry delay itself is the store's retryAt, tested above.
        { retryDelayMs: 0 },
      );
      worker.onError((e) => errors.push(e.error));
      await worker.drain();
      expect(calls).toEqual([0, 5, 5, 5]);
      expect(worker.stats()).toMatchObject({ chunkFailures: 3, errors: 3, items: 5 });
      expect(errors).toHaveLength(3);
      const failed = await t.store.getRun(run.id);
      expect(failed).toMatchObject({ state: 'failed', processed: 5 });
      expect(failed?.lastError).toMatch(/poison item/);
      await t.clock.advance(10_000);
      await worker.drain();
      expect(calls).toHaveLength(4); // a failed run is not claimed
      broken = false;
      expect(await t.store.resumeRun(run.id)).toBe(true);
      await t.clock.advance(100);
      await worker.drain();
      expect(calls).toEqual([0, 5, 5, 5, 5]);
      expect(await t.store.getRun(run.id)).toMatchObject({ state: 'succeeded', processed: 10 });
      await worker.close();
    });
  });
}
