/**
 * The `JobStore` conformance suite: every store (memory, SQLite, PostgreSQL)
 * runs it. Time comes only from a `TestClock` handed to the factory, so
 * leases, retries, aging and retention are driven deterministically; the
 * fault-injection part simulates crashes between claim and completion, lease
 * expiry with a stale completion, duplicate delivery, duplicate enqueue under
 * concurrency and a poison job going dead and being requeued.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  JobConflictError,
  JobDependencyError,
  RunWorker,
  partitionOf,
  type AcceptedCheckpoint,
  type JobRecord,
  type JobStore,
  type RunHandler,
  type RunSlice,
} from 'batchflight/jobs';
import { TestClock } from '../test-clock.js';
import { jobLifecycleConformance } from './job-store-lifecycle.js';
import { runLifecycleConformance } from './job-store-runs.js';
import { jobStoreHardeningConformance } from './job-store-hardening.js';
import { jobPayloadConformance } from './job-store-payloads.js';
import type { SuiteContext } from './job-store-context.js';

/** What a factory returns: a fresh, empty store, and optionally more handles on the same data. */
export interface JobStoreHarness {
  readonly store: JobStore;
  /**
   * Opens another handle (connection, or process-like client) on the same
   * data with the same clock; the suite closes it. Omit for in-process stores.
   */
  readonly open?: () => Promise<JobStore>;
  /** Removes what the store created (schema, file). Runs after `store.close()`. */
  readonly cleanup?: () => Promise<void>;
}

/** Store options a test asks the factory for. */
export interface JobStoreFactoryOptions {
  /** Construct the store with `attemptPayloads: true`. */
  readonly attemptPayloads?: boolean;
  /** Construct the store with a transactional `onCheckpoint` hook that calls this one. */
  readonly onCheckpoint?: (checkpoint: AcceptedCheckpoint) => void;
}

/**
 * Creates a fresh, empty store whose every timestamp comes from `clock`,
 * constructed with `options` (store options a test needs). The suite calls
 * `init()` itself.
 */
export type JobStoreFactory = (
  clock: TestClock,
  options?: JobStoreFactoryOptions,
) => Promise<JobStoreHarness | JobStore>;

const LEASE = 10_000;

/**
 * Registers the conformance tests (vitest `describe`/`it`) for one store.
 *
 * @example
 * ```ts
 * jobStoreConformance('memory', async (clock, options) => new MemoryJobStore({ clock, ...options }));
 * ```
 */
export function jobStoreConformance(name: string, factory: JobStoreFactory): void {
  describe(`JobStore conformance: ${name}`, () => {
    let clock: TestClock;
    let store: JobStore;
    let harness: JobStoreHarness;
    const extra: JobStore[] = [];

    beforeEach(async () => {
      clock = new TestClock();
      const made = await factory(clock);
      harness = 'store' in made ? made : { store: made };
      store = harness.store;
      await store.init();
    });

    afterEach(async () => {
      for (const s of extra.splice(0)) await s.close();
      await store.close();
      await harness.cleanup?.();
    });

    const claim = (limit = 10, more: Partial<Parameters<JobStore['claim']>[0]> = {}) =>
      store.claim({ workerId: 'w1', limit, leaseMs: LEASE, ...more });

    const add = async (
      payload: unknown,
      more: Partial<Parameters<JobStore['enqueue']>[0][number]> = {},
    ) => {
      const [r] = await store.enqueue([{ name: 'task', payload, ...more }]);
      if (r === undefined) throw new Error('enqueue returned no result');
      return r;
    };

    const context: SuiteContext = {
      get clock() {
        return clock;
      },
      get store() {
        return store;
      },
      lease: LEASE,
      claim,
      add,
      open: async (options) => {
        const made = await factory(clock, options);
        const opened = 'store' in made ? made : { store: made };
        await opened.store.init();
        return opened;
      },
    };
    jobLifecycleConformance(context);
    runLifecycleConformance(context);
    jobStoreHardeningConformance(context);
    jobPayloadConformance(context);

    describe('enqueue and claim', () => {
      it('enqueues pending jobs with defaults and claims them with a lease', async () => {
        const r = await add({ n: 1 });
        expect(r.created).toBe(true);
        expect(r.job?.state).toBe('pending');
        expect(r.job?.payload).toEqual({ n: 1 });
        expect(r.job?.attempts).toBe(0);
        expect(r.job?.epoch).toBe(0);
        expect(r.job?.queue).toBe('default');
        const [job] = await claim();
        expect(job?.id).toBe(r.id);
        expect(job?.state).toBe('leased');
        expect(job?.attempts).toBe(1);
        expect(job?.epoch).toBe(1);
        expect(job?.leaseOwner).toBe('w1');
        expect(job?.leaseExpiresAt).toBe(clock.now() + LEASE);
        expect(await claim()).toEqual([]);
      });

      it('claims in batches up to the limit, in enqueue order at equal priority', async () => {
        await store.enqueue(Array.from({ length: 25 }, (_, i) => ({ name: 'task', payload: i })));
        const first = await claim(10);
        expect(first.map((j) => j.payload)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        const rest = await claim(100);
        expect(rest).toHaveLength(15);
      });

      it('respects runAt', async () => {
        await add('later', { runAt: clock.now() + 1_000 });
        expect(await claim()).toEqual([]);
        await clock.advance(1_000);
        expect((await claim()).map((j) => j.payload)).toEqual(['later']);
      });

      it('claims higher priority first', async () => {
        await add('low', { priority: 0 });
        await add('high', { priority: 5 });
        expect((await claim(1)).map((j) => j.payload)).toEqual(['high']);
      });

      it('ages priority so long-waiting jobs are not starved', async () => {
        await add('old', { priority: 0 });
        await clock.advance(10 * 60_000);
        await add('new', { priority: 5 });
        // old waited 10 aging periods: effective priority 10 > 5
        expect((await claim(1, { agingMs: 60_000 })).map((j) => j.payload)).toEqual(['old']);
      });

      it('filters by queue and name', async () => {
        await store.enqueue([
          { name: 'a', payload: 1, queue: 'q1' },
          { name: 'b', payload: 2, queue: 'q1' },
          { name: 'a', payload: 3, queue: 'q2' },
        ]);
        expect((await claim(10, { queues: ['q2'] })).map((j) => j.payload)).toEqual([3]);
        expect((await claim(10, { names: ['b'] })).map((j) => j.payload)).toEqual([2]);
      });

      it('holds a job until its dependencies succeeded', async () => {
        const parent = await add('parent');
        await add('child', { dependsOn: [parent.id] });
        const [p] = await claim();
        expect(p?.payload).toBe('parent');
        expect(await claim()).toEqual([]);
        await store.complete([{ id: parent.id, epoch: p?.epoch ?? 0 }]);
        expect((await claim()).map((j) => j.payload)).toEqual(['child']);
      });

      it('rejects unknown dependencies and enqueues nothing', async () => {
        await expect(
          store.enqueue([
            { name: 'task', payload: 1 },
            { name: 'task', payload: 2, dependsOn: ['no-such-job'] },
          ]),
        ).rejects.toSatisfy((e) => JobDependencyError.is(e));
        expect((await store.counts()).byState.pending).toBe(0);
      });

      it('round-trips payloads and results as JSON', async () => {
        const r = await add({ s: 'x', n: 1.5, a: [1, null], o: { z: true } });
        const [job] = await claim();
        expect(job?.payload).toEqual({ s: 'x', n: 1.5, a: [1, null], o: { z: true } });
        await store.complete([{ id: r.id, epoch: job?.epoch ?? 0, result: { ok: [1, 2] } }]);
        expect((await store.get(r.id))?.result).toEqual({ ok: [1, 2] });
      });
    });

    describe('idempotency ledger', () => {
      it('returns the first job for a duplicate key, and its result once done', async () => {
        const a = await add({ to: 'x' }, { idempotencyKey: 'k1' });
        const b = await add({ to: 'x' }, { idempotencyKey: 'k1' });
        expect(b.created).toBe(false);
        expect(b.id).toBe(a.id);
        expect(b.result).toBeUndefined();
        const [job] = await claim();
        await store.complete([{ id: a.id, epoch: job?.epoch ?? 0, result: 'sent' }]);
        const c = await add({ to: 'x' }, { idempotencyKey: 'k1' });
        expect(c).toMatchObject({ id: a.id, created: false, state: 'succeeded', result: 'sent' });
        expect((await store.counts()).byState.succeeded).toBe(1);
      });

      it('rejects the same key with another payload as a conflict', async () => {
        await add({ to: 'x' }, { idempotencyKey: 'k1' });
        await expect(add({ to: 'y' }, { idempotencyKey: 'k1' })).rejects.toSatisfy((e) =>
          JobConflictError.is(e),
        );
      });

      it('treats object key order as the same payload', async () => {
        const a = await add({ a: 1, b: 2 }, { idempotencyKey: 'k' });
        const b = await add({ b: 2, a: 1 }, { idempotencyKey: 'k' });
        expect(b.id).toBe(a.id);
      });

      it('deduplicates a key repeated within one enqueue call', async () => {
        const rs = await store.enqueue([
          { name: 'task', payload: 1, idempotencyKey: 'same' },
          { name: 'task', payload: 1, idempotencyKey: 'same' },
        ]);
        expect(rs[1]?.id).toBe(rs[0]?.id);
        expect(rs.map((r) => r.created)).toEqual([true, false]);
      });

      it('keeps keys per queue', async () => {
        const a = await add(1, { idempotencyKey: 'k', queue: 'q1' });
        const b = await add(2, { idempotencyKey: 'k', queue: 'q2' });
        expect(b.id).not.toBe(a.id);
      });

      it('outlives the job: after purge the key still answers with the result', async () => {
        const a = await add('p', { idempotencyKey: 'keep' });
        const [job] = await claim();
        await store.complete([{ id: a.id, epoch: job?.epoch ?? 0, result: 42 }]);
        await clock.advance(1_000);
        expect(await store.purge({ finishedBefore: clock.now() })).toBe(1);
        expect(await store.get(a.id)).toBeUndefined();
        const again = await add('p', { idempotencyKey: 'keep' });
        expect(again).toMatchObject({
          id: a.id,
          created: false,
          job: null,
          state: 'succeeded',
          result: 42,
        });
        expect((await store.attempts({ jobId: a.id })).map((x) => x.outcome)).toEqual([
          'succeeded',
        ]);
      });
    });

    describe('fencing', () => {
      it('completes with the current epoch and refuses a duplicate completion', async () => {
        const r = await add(1);
        const [job] = await claim();
        const epoch = job?.epoch ?? 0;
        expect(await store.complete([{ id: r.id, epoch }])).toEqual({
          accepted: [r.id],
          refused: [],
        });
        const again = await store.complete([{ id: r.id, epoch }]);
        expect(again.accepted).toEqual([]);
        expect(again.refused[0]).toMatchObject({ id: r.id, reason: 'not-leased' });
      });

      it('release hands back an unstarted job without spending the attempt', async () => {
        const r = await add(1);
        const [job] = await claim();
        const res = await store.release([{ id: r.id, epoch: job?.epoch ?? 0 }]);
        expect(res.accepted).toEqual([r.id]);
        expect(await store.get(r.id)).toMatchObject({ state: 'pending', attempts: 0 });
        const [again] = await claim(10, { workerId: 'w2' });
        expect(again).toMatchObject({ id: r.id, attempts: 1, epoch: 2 });
        const stale = await store.release([{ id: r.id, epoch: job?.epoch ?? 0 }]);
        expect(stale.refused[0]).toMatchObject({ reason: 'stale-epoch' });
      });

      it('refuses unknown ids', async () => {
        const res = await store.complete([{ id: '999999', epoch: 1 }]);
        expect(res.refused[0]).toMatchObject({ id: '999999', reason: 'not-found' });
      });

      it('heartbeats extend leases; a lost lease is refused', async () => {
        const r = await add(1);
        const [job] = await claim();
        await clock.advance(LEASE - 1);
        const hb = await store.heartbeat([{ id: r.id, epoch: job?.epoch ?? 0 }], LEASE);
        expect(hb.accepted).toEqual([r.id]);
        await clock.advance(LEASE - 1);
        expect(await claim(10, { workerId: 'w2' })).toEqual([]); // still leased
        await clock.advance(2);
        const [stolen] = await claim(10, { workerId: 'w2' });
        expect(stolen?.epoch).toBe((job?.epoch ?? 0) + 1);
        const late = await store.heartbeat([{ id: r.id, epoch: job?.epoch ?? 0 }], LEASE);
        expect(late.refused[0]).toMatchObject({ reason: 'stale-epoch' });
      });
    });

    describe('fault injection', () => {
      it('property: across crashes, expiries and stale completions every job succeeds exactly once', async () => {
        type Action =
          | { kind: 'claim'; worker: number; limit: number }
          | { kind: 'complete'; worker: number }
          | { kind: 'crash'; worker: number }
          | { kind: 'advance'; ms: number };
        const action = fc.oneof(
          fc.record({
            kind: fc.constant('claim' as const),
            worker: fc.nat(2),
            limit: fc.integer({ min: 1, max: 4 }),
          }),
          fc.record({ kind: fc.constant('complete' as const), worker: fc.nat(2) }),
          fc.record({ kind: fc.constant('crash' as const), worker: fc.nat(2) }),
          fc.record({
            kind: fc.constant('advance' as const),
            ms: fc.integer({ min: 0, max: LEASE }),
          }),
        );
        let round = 0;
        await fc.assert(
          fc.asyncProperty(fc.array(action, { maxLength: 30 }), async (actions: Action[]) => {
            const queue = `prop-${String(round++)}`;
            const enqueued = await store.enqueue(
              Array.from({ length: 6 }, (_, i) => ({ queue, name: 'task', payload: i })),
            );
            const held: { id: string; epoch: number }[][] = [[], [], []];
            for (const a of actions) {
              if (a.kind === 'claim') {
                const jobs = await store.claim({
                  workerId: `w${String(a.worker)}`,
                  limit: a.limit,
                  leaseMs: LEASE,
                  queues: [queue],
                });
                held[a.worker]?.push(...jobs.map((j) => ({ id: j.id, epoch: j.epoch })));
              } else if (a.kind === 'complete') {
                const mine = held[a.worker]?.splice(0) ?? [];
                await store.complete(mine.map((l) => ({ ...l, result: l.epoch })));
              } else if (a.kind === 'crash') {
                held[a.worker]?.splice(0);
              } else {
                await clock.advance(a.ms);
              }
            }
            // Recovery: whatever is left is reclaimed after the lease and finished.
            await clock.advance(LEASE);
            for (;;) {
              const jobs = await store.claim({
                workerId: 'rescuer',
                limit: 10,
                leaseMs: LEASE,
                queues: [queue],
              });
              if (jobs.length === 0) break;
              await store.complete(
                jobs.map((j) => ({ id: j.id, epoch: j.epoch, result: j.epoch })),
              );
            }
            for (const r of enqueued) {
              const job = await store.get(r.id);
              expect(job?.state).toBe('succeeded');
              // The stored result is the epoch of the one completion that was accepted.
              expect(job?.result).toBe(job?.epoch);
              const log = await store.attempts({ jobId: r.id });
              expect(log.filter((x) => x.outcome === 'succeeded')).toHaveLength(1);
            }
          }),
          { numRuns: 25 },
        );
      });

      it('crash between claim and complete: the job is reclaimed after the lease', async () => {
        const r = await add('work');
        const [lost] = await claim(10, { workerId: 'crashed' });
        expect(lost?.id).toBe(r.id);
        // the worker dies here: no heartbeat, no completion
        await clock.advance(LEASE);
        const [again] = await claim(10, { workerId: 'w2' });
        expect(again).toMatchObject({ id: r.id, attempts: 2, epoch: 2, leaseOwner: 'w2' });
        await store.complete([{ id: r.id, epoch: again?.epoch ?? 0 }]);
        const log = await store.attempts({ jobId: r.id });
        expect(log.map((a) => [a.workerId, a.epoch, a.outcome])).toEqual([
          ['crashed', 1, 'expired'],
          ['w2', 2, 'succeeded'],
        ]);
      });

      it('lease expiry then stale completion: refused, and the new holder wins', async () => {
        const r = await add('slow');
        const [slow] = await claim(10, { workerId: 'slow' });
        await clock.advance(LEASE + 1);
        const [fresh] = await claim(10, { workerId: 'fresh' });
        const stale = await store.complete([{ id: r.id, epoch: slow?.epoch ?? 0, result: 'old' }]);
        expect(stale.accepted).toEqual([]);
        expect(stale.refused[0]).toMatchObject({
          id: r.id,
          reason: 'stale-epoch',
          currentEpoch: fresh?.epoch,
        });
        const ok = await store.complete([{ id: r.id, epoch: fresh?.epoch ?? 0, result: 'new' }]);
        expect(ok.accepted).toEqual([r.id]);
        expect((await store.get(r.id))?.result).toBe('new');
      });

      it('an expired but unreclaimed lease can still complete', async () => {
        const r = await add(1);
        const [job] = await claim();
        await clock.advance(LEASE * 3);
        expect((await store.complete([{ id: r.id, epoch: job?.epoch ?? 0 }])).accepted).toEqual([
          r.id,
        ]);
      });

      it('duplicate delivery: two claimers never hold one job at once', async () => {
        await store.enqueue(Array.from({ length: 50 }, (_, i) => ({ name: 'task', payload: i })));
        const other = harness.open === undefined ? store : await harness.open();
        if (other !== store) extra.push(other);
        const [a, b] = await Promise.all([
          store.claim({ workerId: 'a', limit: 30, leaseMs: LEASE }),
          other.claim({ workerId: 'b', limit: 30, leaseMs: LEASE }),
        ]);
        const ids = [...a, ...b].map((j) => j.id);
        expect(ids).toHaveLength(50);
        expect(new Set(ids).size).toBe(50);
      });

      it('duplicate enqueue under concurrency creates exactly one job', async () => {
        const other = harness.open === undefined ? store : await harness.open();
        if (other !== store) extra.push(other);
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 === 0 ? store : other).enqueue([
              { name: 'task', payload: { same: true }, idempotencyKey: 'race' },
            ]),
          ),
        );
        const ids = new Set(results.map((r) => r[0]?.id));
        expect(ids.size).toBe(1);
        expect(results.filter((r) => r[0]?.created).length).toBe(1);
        expect((await store.counts()).byState.pending).toBe(1);
      });

      it('poison job: retried until maxAttempts, then dead, then requeued', async () => {
        const r = await add('poison', { maxAttempts: 3 });
        for (let attempt = 1; attempt <= 3; attempt++) {
          const [job] = await claim();
          expect(job?.attempts).toBe(attempt);
          const res = await store.fail([
            {
              id: r.id,
              epoch: job?.epoch ?? 0,
              error: `boom ${attempt}`,
              retryAt: clock.now() + 100,
            },
          ]);
          expect(res.accepted).toEqual([r.id]);
          expect(attempt < 3 ? res.retrying : res.dead).toEqual([r.id]);
          if (attempt < 3) {
            expect((await store.get(r.id))?.state).toBe('failed');
            expect(await claim()).toEqual([]); // not before retryAt
            await clock.advance(100);
          }
        }
        const dead = await store.get(r.id);
        expect(dead).toMatchObject({ state: 'dead', lastError: 'boom 3', attempts: 3 });
        expect(await claim()).toEqual([]);
        expect(await store.requeue([r.id])).toEqual([r.id]);
        const [again] = await claim();
        expect(again).toMatchObject({ id: r.id, attempts: 1, state: 'leased' });
        const log = await store.attempts({ jobId: r.id });
        expect(log.map((a) => a.outcome)).toEqual(['failed', 'failed', 'dead']);
        expect(log.map((a) => a.error)).toEqual(['boom 1', 'boom 2', 'boom 3']);
      });

      it('a job whose worker keeps crashing goes dead when its last lease expires', async () => {
        const r = await add('crasher', { maxAttempts: 2 });
        await claim();
        await clock.advance(LEASE);
        await claim();
        await clock.advance(LEASE);
        expect(await claim()).toEqual([]);
        expect((await store.get(r.id))?.state).toBe('dead');
        expect((await store.attempts({ jobId: r.id })).map((a) => a.outcome)).toEqual([
          'expired',
          'expired',
        ]);
      });

      it('fail with dead: true skips the remaining attempts', async () => {
        const r = await add(1, { maxAttempts: 10 });
        const [job] = await claim();
        const res = await store.fail([
          { id: r.id, epoch: job?.epoch ?? 0, error: 'bad', dead: true },
        ]);
        expect(res.dead).toEqual([r.id]);
      });
    });

    describe('dead letter, cancel, requeue', () => {
      it('cancels pending and leased jobs, fencing the holder', async () => {
        const a = await add(1);
        const b = await add(2);
        const [held] = await claim(1);
        expect(await store.cancel([a.id, b.id])).toEqual([a.id, b.id]);
        const res = await store.complete([{ id: held?.id ?? '', epoch: held?.epoch ?? 0 }]);
        expect(res.refused).toHaveLength(1);
        expect((await store.get(a.id))?.state).toBe('cancelled');
        expect(await store.cancel([a.id])).toEqual([]);
        expect(await store.requeue([a.id])).toEqual([a.id]);
        expect((await store.get(a.id))?.state).toBe('pending');
      });

      it('dead-letters by hand with a reason', async () => {
        const a = await add(1);
        expect(await store.deadLetter([a.id], 'operator')).toEqual([a.id]);
        expect(await store.get(a.id)).toMatchObject({ state: 'dead', lastError: 'operator' });
      });
    });

    describe('partitions', () => {
      it('computes a deterministic partition from the key', async () => {
        const r = await add(1, { partitionKey: 'tenant-a' });
        expect(r.job?.partition).toBe(partitionOf('tenant-a'));
        expect(partitionOf('tenant-a')).toBe(partitionOf('tenant-a'));
      });

      it('ordered mode: one in flight per key, in enqueue order', async () => {
        await store.enqueue([
          { name: 'task', payload: 'a1', partitionKey: 'A', ordered: true },
          { name: 'task', payload: 'a2', partitionKey: 'A', ordered: true },
          { name: 'task', payload: 'b1', partitionKey: 'B', ordered: true },
          { name: 'task', payload: 'a3', partitionKey: 'A', ordered: true, priority: 9 },
        ]);
        const first = await claim(10);
        expect(first.map((j) => j.payload).sort()).toEqual(['a1', 'b1']);
        expect(await claim(10)).toEqual([]);
        const a1 = first.find((j) => j.payload === 'a1') as JobRecord;
        // a failed head keeps blocking its successors until it finishes
        await store.fail([{ id: a1.id, epoch: a1.epoch, error: 'x', retryAt: clock.now() + 50 }]);
        expect(await claim(10)).toEqual([]);
        await clock.advance(50);
        const [retry] = await claim(10);
        expect(retry?.payload).toBe('a1');
        await store.complete([{ id: retry?.id ?? '', epoch: retry?.epoch ?? 0 }]);
        expect((await claim(10)).map((j) => j.payload)).toEqual(['a2']);
      });

      it('weighted fair selection: a hot tenant does not starve the others', async () => {
        await store.enqueue(
          Array.from({ length: 100 }, (_, i) => ({
            name: 'task',
            payload: i,
            partitionKey: 'hot',
          })),
        );
        await store.enqueue([
          { name: 'task', payload: 'c1', partitionKey: 'cold' },
          { name: 'task', payload: 'c2', partitionKey: 'cold' },
          { name: 'task', payload: 'w1', partitionKey: 'warm' },
        ]);
        const batch = await claim(6);
        const byKey = (k: string) => batch.filter((j) => j.partitionKey === k).length;
        expect(byKey('cold')).toBe(2);
        expect(byKey('warm')).toBe(1);
        expect(byKey('hot')).toBe(3);
      });

      it('weights give a tenant a larger share', async () => {
        await store.enqueue([
          ...Array.from({ length: 20 }, (_, i) => ({
            name: 'task',
            payload: i,
            partitionKey: 'a',
          })),
          ...Array.from({ length: 20 }, (_, i) => ({
            name: 'task',
            payload: i,
            partitionKey: 'b',
          })),
        ]);
        const batch = await claim(9, { weights: { a: 2 } });
        expect(batch.filter((j) => j.partitionKey === 'a').length).toBe(6);
        expect(batch.filter((j) => j.partitionKey === 'b').length).toBe(3);
      });

      it('replays a partition since a point', async () => {
        await add('before', { partitionKey: 'P' });
        await clock.advance(1_000);
        const since = clock.now();
        await add('after1', { partitionKey: 'P' });
        await add('other', { partitionKey: 'Q' });
        await add('after2', { partitionKey: 'P' });
        for (const j of await claim(10)) await store.complete([{ id: j.id, epoch: j.epoch }]);
        const listed = await store.replay({ partitionKey: 'P', since, dryRun: true });
        expect(listed.map((j) => [j.payload, j.state])).toEqual([
          ['after1', 'succeeded'],
          ['after2', 'succeeded'],
        ]);
        const replayed = await store.replay({ partition: partitionOf('P'), since });
        expect(replayed.filter((j) => j.partitionKey === 'P').map((j) => j.state)).toEqual([
          'pending',
          'pending',
        ]);
        expect((await claim(10)).map((j) => j.payload).sort()).toEqual(
          replayed.map((j) => j.payload).sort(),
        );
      });
    });

    describe('wake-ups', () => {
      it('notifies enqueues, requeues and releases when the store supports wake-ups', async () => {
        if (typeof store.onEnqueued !== 'function') {
          expect(typeof store.onEnqueued).toBe('undefined'); // polling only: allowed by the contract
          return;
        }
        const events: { queue: string; count: number }[] = [];
        const sub = store.onEnqueued((e) => events.push({ queue: e.queue, count: e.count }));
        await store.enqueue([
          { name: 'task', payload: 1, queue: 'qa' },
          { name: 'task', payload: 2, queue: 'qa' },
        ]);
        // Notifications may arrive asynchronously (e.g. LISTEN/NOTIFY).
        for (let i = 0; i < 100 && events.length === 0; i++) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        // One event per call or per job, as the store batches them.
        expect(events.some((e) => e.queue === 'qa' && e.count >= 1)).toBe(true);
        sub.dispose();
      });
    });

    describe('steps', () => {
      it('memoizes step values under the job, fenced by the lease', async () => {
        const r = await add(1);
        const [job] = await claim();
        expect(await store.getStep(r.id, 'charge')).toEqual({ found: false, value: undefined });
        expect(
          await store.putStep({
            id: r.id,
            epoch: job?.epoch ?? 0,
            step: 'charge',
            value: { c: 1 },
          }),
        ).toBe(true);
        expect(await store.getStep(r.id, 'charge')).toEqual({ found: true, value: { c: 1 } });
        await clock.advance(LEASE);
        await claim(10, { workerId: 'w2' });
        expect(await store.putStep({ id: r.id, epoch: job?.epoch ?? 0, step: 'x', value: 1 })).toBe(
          false,
        );
        expect(await store.getStep(r.id, 'charge')).toEqual({ found: true, value: { c: 1 } });
      });
    });

    describe('queries and counts', () => {
      it('counts by state, queue and partition, and the oldest ready age', async () => {
        await add(1, { queue: 'q1', partitionKey: 'k' });
        await clock.advance(500);
        await add(2, { queue: 'q2' });
        await claim(1);
        const c = await store.counts();
        expect(c.byState).toMatchObject({ pending: 1, leased: 1 });
        expect(c.byQueue.q1).toMatchObject({ leased: 1 });
        expect(c.byQueue.q2).toMatchObject({ pending: 1 });
        expect(c.byPartition[String(partitionOf('k'))]).toMatchObject({ leased: 1 });
        expect(c.byPartition.none).toMatchObject({ pending: 1 });
        expect(c.oldestReadyAgeMs).toBe(0);
        await clock.advance(250);
        expect((await store.counts()).oldestReadyAgeMs).toBe(250);
      });

      it('queries by state with a seq cursor', async () => {
        await store.enqueue(Array.from({ length: 5 }, (_, i) => ({ name: 'task', payload: i })));
        const page1 = await store.query({ state: 'pending', limit: 2 });
        expect(page1.map((j) => j.payload)).toEqual([0, 1]);
        const page2 = await store.query({
          state: ['pending'],
          afterSeq: page1[1]?.seq ?? 0,
          limit: 10,
        });
        expect(page2.map((j) => j.payload)).toEqual([2, 3, 4]);
      });
    });

    describe('runs', () => {
      it('leases chunks, checkpoints, resumes at the first unfinished chunk', async () => {
        const run = await store.createRun({
          name: 'import',
          input: { file: 'x' },
          total: 25,
          chunkSize: 10,
        });
        expect(run).toMatchObject({ state: 'running', chunks: 3, processed: 0, total: 25 });
        const [c0] = await store.claimChunks({ workerId: 'w1', limit: 1, leaseMs: LEASE });
        expect(c0).toMatchObject({ index: 0, start: 0, end: 10, offset: 0, epoch: 1 });
        const ref0 = { runId: run.id, index: 0, epoch: c0?.epoch ?? 0 };
        expect(await store.checkpointChunk({ ...ref0, offset: 4 })).toBe(true);
        expect((await store.getRun(run.id))?.processed).toBe(4);
        // crash: the lease expires and another worker resumes from the checkpoint
        await clock.advance(LEASE);
        const [again] = await store.claimChunks({ workerId: 'w2', limit: 1, leaseMs: LEASE });
        expect(again).toMatchObject({ index: 0, offset: 4, epoch: 2 });
        expect(await store.checkpointChunk({ ...ref0, offset: 8 })).toBe(false);
        expect(await store.completeChunk({ runId: run.id, index: 0, epoch: 2 })).toBe(true);
        const rest = await store.claimChunks({ workerId: 'w2', limit: 10, leaseMs: LEASE });
        expect(rest.map((c) => [c.index, c.start, c.end])).toEqual([
          [1, 10, 20],
          [2, 20, 25],
        ]);
        for (const c of rest)
          await store.completeChunk({ runId: run.id, index: c.index, epoch: c.epoch });
        expect(await store.getRun(run.id)).toMatchObject({
          state: 'succeeded',
          processed: 25,
          chunksDone: 3,
        });
      });

      it('a checkpoint with leaseMs 0 hands the chunk back: claimable at once, at its checkpoint', async () => {
        const run = await store.createRun({ name: 'r', input: null, total: 10, chunkSize: 10 });
        const [c] = await store.claimChunks({ workerId: 'w1', limit: 1, leaseMs: LEASE });
        const ref = { runId: run.id, index: 0, epoch: c?.epoch ?? 0 };
        expect(await store.checkpointChunk({ ...ref, offset: 6, leaseMs: 0 })).toBe(true);
        // No time passes: the lease expired at the checkpoint.
        const [again] = await store.claimChunks({ workerId: 'w2', limit: 1, leaseMs: LEASE });
        expect(again).toMatchObject({ index: 0, offset: 6, epoch: ref.epoch + 1 });
        expect(await store.checkpointChunk({ ...ref, offset: 8 })).toBe(false);
      });

      it('RunWorker.close() mid-chunk: another worker resumes the chunk at its checkpoint at once, every item once', async () => {
        const run = await store.createRun({ name: 'r', input: null, total: 40, chunkSize: 20 });
        const seen = new Array<number>(40).fill(0);
        const slices: string[] = [];
        const mark = (worker: string, { chunkIndex, from, to }: RunSlice): void => {
          slices.push(`${worker} ${String(chunkIndex)}:${String(from)}-${String(to)}`);
          for (let i = from; i < to; i++) seen[i] = (seen[i] ?? 0) + 1;
        };
        const worker = (id: string, processSlice: RunHandler['processSlice']) =>
          new RunWorker(
            store,
            { r: { sliceSize: 5, processSlice } },
            { clock, leaseMs: LEASE, workerId: id },
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
        expect((await store.getRun(run.id))?.processed).toBe(10);
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
        expect(await store.getRun(run.id)).toMatchObject({
          state: 'succeeded',
          processed: 40,
          chunksDone: 2,
        });
      });

      it('pause, resume and cancel', async () => {
        const run = await store.createRun({ name: 'r', input: null, total: 4, chunkSize: 1 });
        expect(await store.pauseRun(run.id)).toBe(true);
        expect(await store.claimChunks({ workerId: 'w', limit: 10, leaseMs: LEASE })).toEqual([]);
        expect(await store.resumeRun(run.id)).toBe(true);
        const [c] = await store.claimChunks({ workerId: 'w', limit: 1, leaseMs: LEASE });
        expect(await store.cancelRun(run.id)).toBe(true);
        expect(
          await store.completeChunk({ runId: run.id, index: c?.index ?? 0, epoch: c?.epoch ?? 0 }),
        ).toBe(false);
        expect((await store.getRun(run.id))?.state).toBe('cancelled');
        expect(await store.claimChunks({ workerId: 'w', limit: 10, leaseMs: LEASE })).toEqual([]);
      });

      it('a duplicate idempotency key returns the existing run', async () => {
        const a = await store.createRun({
          name: 'r',
          input: 1,
          total: 4,
          chunkSize: 2,
          idempotencyKey: 'r1',
        });
        const b = await store.createRun({
          name: 'r',
          input: 1,
          total: 4,
          chunkSize: 2,
          idempotencyKey: 'r1',
        });
        expect(b.id).toBe(a.id);
      });
    });
  });
}
