/**
 * The `JobStore` conformance suite, hardening part (issue 18): ids of the
 * wrong type are refused alike in every store, error texts with U+0000 are
 * kept, and the delay behind a retry is kept as the job's `retryDelayMs`.
 */
import { describe, expect, it } from 'vitest';
import type { JobStore } from 'batchflight/jobs';
import type { JobSuiteContext } from './harness.js';

/** Registers the hardening tests on the suite's per-test store. */
export function jobStoreHardeningConformance(t: JobSuiteContext<JobStore>): void {
  describe('hardening', () => {
    it('get() refuses an id that is not a string (TypeError), in every store alike', async () => {
      const r = await t.add(1);
      expect(typeof r.id).toBe('string');
      await expect(t.store.get(Number(r.id) as unknown as string)).rejects.toThrow(TypeError);
      await expect(t.store.get(Number(r.id) as unknown as string)).rejects.toThrow(
        /get\(\): id must be a string.*got 1/,
      );
      expect((await t.store.get(r.id))?.id).toBe(r.id);
    });

    it('error texts with U+0000 are kept with U+FFFD (fail, deadLetter), never refused', async () => {
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
  });
}
