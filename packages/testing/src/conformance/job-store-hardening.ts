/**
 * The `JobStore` conformance suite, hardening part (issue 18): ids of the
 * wrong type are refused alike in every store, a run's chunk count is
 * bounded, and a store's `onCheckpoint` hook sees real checkpoints only
 * (progress or data), never a bare lease renewal or hand-back.
 */
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from 'batchflight/core';
import { MAX_RUN_CHUNKS, type AcceptedCheckpoint } from 'batchflight/jobs';
import type { SuiteContext } from './job-store-context.js';

/** Registers the hardening tests on the suite's per-test store. */
export function jobStoreHardeningConformance(t: SuiteContext): void {
  describe('hardening', () => {
    it('get() and getRun() refuse an id that is not a string (TypeError), in every store alike', async () => {
      const r = await t.add(1);
      expect(typeof r.id).toBe('string');
      await expect(t.store.get(Number(r.id) as unknown as string)).rejects.toThrow(TypeError);
      await expect(t.store.get(Number(r.id) as unknown as string)).rejects.toThrow(
        /get\(\): id must be a string.*got 1/,
      );
      await expect(t.store.getRun(1 as unknown as string)).rejects.toThrow(/getRun\(\): id/);
      expect((await t.store.get(r.id))?.id).toBe(r.id);
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

    it('error texts with U+0000 are kept with U+FFFD (fail, deadLetter, failChunk), never refused', async () => {
      const a = await t.add(1, { maxAttempts: 5 });
      const b = await t.add(2);
      const jobs = await t.claim(2);
      const ja = jobs.find((j) => j.id === a.id);
      if (ja === undefined) throw new Error('job a not claimed');
      const failed = await t.store.fail([
        { id: ja.id, epoch: ja.epoch, error: 'bad\u0000byte', retryAt: t.clock.now() },
      ]);
      expect(failed.accepted).toEqual([a.id]);
      expect((await t.store.get(a.id))?.lastError).toBe('bad\uFFFDbyte');
      expect(await t.store.deadLetter([b.id], 'why\u0000not')).toEqual([b.id]);
      expect((await t.store.get(b.id))?.lastError).toBe('why\uFFFDnot');
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

    it('keeps the delay behind a retry (FailInput.delayMs) as retryDelayMs; requeue resets it', async () => {
      const r = await t.add(1, { maxAttempts: 2 });
      expect((await t.store.get(r.id))?.retryDelayMs).toBe(0);
      const [first] = await t.claim();
      if (first === undefined) throw new Error('not claimed');
      await t.store.fail([
        { id: r.id, epoch: first.epoch, error: 'e', retryAt: t.clock.now() + 250, delayMs: 250 },
      ]);
      expect((await t.store.get(r.id))?.retryDelayMs).toBe(250);
      await t.clock.advance(250);
      const [second] = await t.claim();
      expect(second?.retryDelayMs).toBe(250); // what the worker's next backoff is handed
      await t.store.fail([{ id: r.id, epoch: second?.epoch ?? 0, error: 'e', delayMs: 999 }]);
      expect(await t.store.get(r.id)).toMatchObject({ state: 'dead', retryDelayMs: 250 });
      expect(await t.store.requeue([r.id])).toEqual([r.id]);
      expect((await t.store.get(r.id))?.retryDelayMs).toBe(0);
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
}
