/**
 * The `StepStore` conformance suite: memoized step values under a job's
 * lease (fenced like a completion), kept across `requeue` and cleared by
 * `replay`; and a `Worker` on the store (it needs jobs and steps) isolates a
 * result, an error or a step value the store cannot keep: the job fails with
 * a clear reason, every other job of the same commit succeeds, nothing stays
 * leased, `close()` resolves.
 */
import { describe, expect, it } from 'vitest';
import { Queue, Worker, type JobStore, type StepStore } from 'batchflight/jobs';
import {
  SUITE_LEASE_MS as LEASE,
  jobSuiteContext,
  within,
  type JobStoreFactory,
} from './harness.js';

/**
 * Registers the `StepStore` conformance tests for one store, which is also
 * the `JobStore` of the jobs whose steps it keeps.
 *
 * @example
 * ```ts
 * stepStoreConformance('memory', async (clock, options) => new MemoryJobStore({ clock, ...options }));
 * ```
 */
export function stepStoreConformance(
  name: string,
  factory: JobStoreFactory<JobStore & StepStore>,
): void {
  describe(`StepStore conformance: ${name}`, () => {
    const t = jobSuiteContext(factory);

    describe('steps', () => {
      it('memoizes step values under the job, fenced by the lease', async () => {
        const r = await t.add(1);
        const [job] = await t.claim();
        expect(await t.store.getStep(r.id, 'charge')).toEqual({ found: false, value: undefined });
        expect(
          await t.store.putStep({
            id: r.id,
            epoch: job?.epoch ?? 0,
            step: 'charge',
            value: { c: 1 },
          }),
        ).toBe(true);
        expect(await t.store.getStep(r.id, 'charge')).toEqual({ found: true, value: { c: 1 } });
        await t.clock.advance(LEASE);
        await t.claim(10, { workerId: 'w2' });
        expect(
          await t.store.putStep({ id: r.id, epoch: job?.epoch ?? 0, step: 'x', value: 1 }),
        ).toBe(false);
        expect(await t.store.getStep(r.id, 'charge')).toEqual({ found: true, value: { c: 1 } });
      });
    });

    describe('steps across requeue and replay', () => {
      it('requeue keeps the memoized steps; replay clears them (a replay does the work again)', async () => {
        const r = await t.add(1, { partitionKey: 'S' });
        const since = t.clock.now();
        const [first] = await t.claim();
        await t.store.putStep({
          id: r.id,
          epoch: first?.epoch ?? 0,
          step: 'charge',
          value: 'ch_1',
        });
        await t.store.fail([{ id: r.id, epoch: first?.epoch ?? 0, error: 'x', dead: true }]);
        await t.store.requeue([r.id]);
        expect(await t.store.getStep(r.id, 'charge')).toEqual({ found: true, value: 'ch_1' });
        const [second] = await t.claim();
        await t.store.complete([{ id: r.id, epoch: second?.epoch ?? 0 }]);
        await t.store.replay({ partitionKey: 'S', since, dryRun: true });
        expect((await t.store.getStep(r.id, 'charge')).found).toBe(true);
        const [replayed] = await t.store.replay({ partitionKey: 'S', since });
        expect(replayed?.state).toBe('pending');
        expect(await t.store.getStep(r.id, 'charge')).toEqual({ found: false, value: undefined });
      });
    });

    describe('a Worker on the store', () => {
      it('a worker isolates a result and an error the store cannot keep: the other 20 jobs succeed, nothing stays leased, close() resolves', async () => {
        const queue = new Queue(t.store, { clock: t.clock });
        await queue.addMany([
          ...Array.from({ length: 10 }, (_, i) => ({ name: 'good', payload: i })),
          { name: 'nulResult', payload: null },
          { name: 'nulError', payload: null, options: { maxAttempts: 1 } },
          ...Array.from({ length: 10 }, (_, i) => ({ name: 'good', payload: 10 + i })),
        ]);
        const worker = new Worker(
          t.store,
          {
            good: (n: number) => n * 2,
            nulResult: () => 'a\u0000b',
            nulError: () => {
              throw new Error('x\u0000y');
            },
          },
          // One claim and one commit for all 22 jobs.
          { clock: t.clock, concurrency: 22, claimBatch: 50, depthSampleMs: 0 },
        );
        const flushErrors: unknown[] = [];
        worker.onError((e) => flushErrors.push(e.error));
        try {
          await within(worker.drain(), 5_000, 'worker.drain()');
        } finally {
          await within(worker.close({ timeoutMs: 1_000 }), 5_000, 'worker.close()');
        }
        const jobs = await t.store.query({ limit: 100 });
        expect(jobs.filter((j) => j.state === 'leased')).toEqual([]);
        const good = jobs.filter((j) => j.name === 'good');
        expect(good.map((j) => [j.state, j.result])).toEqual(
          Array.from({ length: 20 }, (_, i) => ['succeeded', i * 2]),
        );
        const nulResult = jobs.find((j) => j.name === 'nulResult');
        expect(nulResult?.state).toBe('dead');
        expect(nulResult?.lastError).toMatch(
          /UnstorableValueError: result contains U\+0000, which a job store cannot keep/,
        );
        const nulError = jobs.find((j) => j.name === 'nulError');
        expect(nulError?.state).toBe('dead');
        expect(nulError?.lastError).toMatch(/^Error: x\uFFFDy/);
        expect(flushErrors).toEqual([]);
        expect(worker.stats()).toMatchObject({ succeeded: 20, dead: 2, refused: 0 });
      });

      it('a step value the store cannot keep fails the job without retrying; the step is not memoised', async () => {
        const queue = new Queue(t.store, { clock: t.clock });
        const { id } = await queue.add('steps', null);
        const worker = new Worker(
          t.store,
          {
            steps: async (_: null, ctx) => {
              await ctx.step('fine', () => 1);
              return ctx.step('bad', () => ({ at: new Date(0) }));
            },
          },
          { clock: t.clock, depthSampleMs: 0 },
        );
        try {
          await within(worker.drain(), 5_000, 'worker.drain()');
        } finally {
          await within(worker.close({ timeoutMs: 1_000 }), 5_000, 'worker.close()');
        }
        const job = await t.store.get(id);
        expect(job?.state).toBe('dead');
        expect(job?.lastError).toMatch(
          /UnstorableValueError: ctx\.step\("bad"\): value\.at is a Date/,
        );
        expect(await t.store.getStep(id, 'fine')).toEqual({ found: true, value: 1 });
        expect((await t.store.getStep(id, 'bad')).found).toBe(false);
      });
    });
  });
}
