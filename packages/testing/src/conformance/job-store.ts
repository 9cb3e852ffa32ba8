/**
 * The `JobStore` conformance suite: every store of jobs (memory, SQLite,
 * PostgreSQL) runs it. Time comes only from a `TestClock` handed to the
 * factory, so leases, retries, aging and retention are driven
 * deterministically; the fault-injection part simulates crashes between
 * claim and completion, lease expiry with a stale completion, duplicate
 * delivery, duplicate enqueue under concurrency and a poison job going dead
 * and being requeued. Steps and runs have suites of their own
 * (`stepStoreConformance`, `runStoreConformance`).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  JobConflictError,
  JobDependencyError,
  type JobRecord,
  type JobStore,
} from 'batchflight/jobs';
import { partitionOf } from 'batchflight/kit';
import { jobLifecycleConformance } from './job-store-lifecycle.js';
import { jobStoreHardeningConformance } from './job-store-hardening.js';
import { jobPayloadConformance } from './job-store-payloads.js';
import { SUITE_LEASE_MS as LEASE, jobSuiteContext, type JobStoreFactory } from './harness.js';

/**
 * Registers the `JobStore` conformance tests (vitest `describe`/`it`) for one store.
 *
 * @example
 * ```ts
 * jobStoreConformance('memory', async (clock, options) => new MemoryJobStore({ clock, ...options }));
 * ```
 */
export function jobStoreConformance(name: string, factory: JobStoreFactory<JobStore>): void {
  describe(`JobStore conformance: ${name}`, () => {
    const t = jobSuiteContext(factory);
    jobLifecycleConformance(t);
    jobStoreHardeningConformance(t);
    jobPayloadConformance(t);

    describe('enqueue and claim', () => {
      it('enqueues pending jobs with defaults and claims them with a lease', async () => {
        const r = await t.add({ n: 1 });
        expect(r.created).toBe(true);
        expect(r.job?.state).toBe('pending');
        expect(r.job?.payload).toEqual({ n: 1 });
        expect(r.job?.attempts).toBe(0);
        expect(r.job?.epoch).toBe(0);
        expect(r.job?.queue).toBe('default');
        const [job] = await t.claim();
        expect(job?.id).toBe(r.id);
        expect(job?.state).toBe('leased');
        expect(job?.attempts).toBe(1);
        expect(job?.epoch).toBe(1);
        expect(job?.leaseOwner).toBe('w1');
        expect(job?.leaseExpiresAt).toBe(t.clock.now() + LEASE);
        expect(await t.claim()).toEqual([]);
      });

      it('claims in batches up to the limit, in enqueue order at equal priority', async () => {
        await t.store.enqueue(Array.from({ length: 25 }, (_, i) => ({ name: 'task', payload: i })));
        const first = await t.claim(10);
        expect(first.map((j) => j.payload)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        const rest = await t.claim(100);
        expect(rest).toHaveLength(15);
      });

      it('respects runAt', async () => {
        await t.add('later', { runAt: t.clock.now() + 1_000 });
        expect(await t.claim()).toEqual([]);
        await t.clock.advance(1_000);
        expect((await t.claim()).map((j) => j.payload)).toEqual(['later']);
      });

      it('claims higher priority first', async () => {
        await t.add('low', { priority: 0 });
        await t.add('high', { priority: 5 });
        expect((await t.claim(1)).map((j) => j.payload)).toEqual(['high']);
      });

      it('ages priority so long-waiting jobs are not starved', async () => {
        await t.add('old', { priority: 0 });
        await t.clock.advance(10 * 60_000);
        await t.add('new', { priority: 5 });
        // old waited 10 aging periods: effective priority 10 > 5
        expect((await t.claim(1, { agingMs: 60_000 })).map((j) => j.payload)).toEqual(['old']);
      });

      it('filters by queue and name', async () => {
        await t.store.enqueue([
          { name: 'a', payload: 1, queue: 'q1' },
          { name: 'b', payload: 2, queue: 'q1' },
          { name: 'a', payload: 3, queue: 'q2' },
        ]);
        expect((await t.claim(10, { queues: ['q2'] })).map((j) => j.payload)).toEqual([3]);
        expect((await t.claim(10, { names: ['b'] })).map((j) => j.payload)).toEqual([2]);
      });

      it('holds a job until its dependencies succeeded', async () => {
        const parent = await t.add('parent');
        await t.add('child', { dependsOn: [parent.id] });
        const [p] = await t.claim();
        expect(p?.payload).toBe('parent');
        expect(await t.claim()).toEqual([]);
        await t.store.complete([{ id: parent.id, epoch: p?.epoch ?? 0 }]);
        expect((await t.claim()).map((j) => j.payload)).toEqual(['child']);
      });

      it('rejects unknown dependencies and enqueues nothing', async () => {
        await expect(
          t.store.enqueue([
            { name: 'task', payload: 1 },
            { name: 'task', payload: 2, dependsOn: ['no-such-job'] },
          ]),
        ).rejects.toSatisfy((e) => JobDependencyError.is(e));
        expect((await t.store.counts()).byState.pending).toBe(0);
      });

      it('round-trips payloads and results as JSON', async () => {
        const r = await t.add({ s: 'x', n: 1.5, a: [1, null], o: { z: true } });
        const [job] = await t.claim();
        expect(job?.payload).toEqual({ s: 'x', n: 1.5, a: [1, null], o: { z: true } });
        await t.store.complete([{ id: r.id, epoch: job?.epoch ?? 0, result: { ok: [1, 2] } }]);
        expect((await t.store.get(r.id))?.result).toEqual({ ok: [1, 2] });
      });
    });

    describe('idempotency ledger', () => {
      it('returns the first job for a duplicate key, and its result once done', async () => {
        const a = await t.add({ to: 'x' }, { idempotencyKey: 'k1' });
        const b = await t.add({ to: 'x' }, { idempotencyKey: 'k1' });
        expect(b.created).toBe(false);
        expect(b.id).toBe(a.id);
        expect(b.result).toBeUndefined();
        const [job] = await t.claim();
        await t.store.complete([{ id: a.id, epoch: job?.epoch ?? 0, result: 'sent' }]);
        const c = await t.add({ to: 'x' }, { idempotencyKey: 'k1' });
        expect(c).toMatchObject({ id: a.id, created: false, state: 'succeeded', result: 'sent' });
        expect((await t.store.counts()).byState.succeeded).toBe(1);
      });

      it('rejects the same key with another payload as a conflict', async () => {
        await t.add({ to: 'x' }, { idempotencyKey: 'k1' });
        await expect(t.add({ to: 'y' }, { idempotencyKey: 'k1' })).rejects.toSatisfy((e) =>
          JobConflictError.is(e),
        );
      });

      it('treats object key order as the same payload', async () => {
        const a = await t.add({ a: 1, b: 2 }, { idempotencyKey: 'k' });
        const b = await t.add({ b: 2, a: 1 }, { idempotencyKey: 'k' });
        expect(b.id).toBe(a.id);
      });

      it('deduplicates a key repeated within one enqueue call', async () => {
        const rs = await t.store.enqueue([
          { name: 'task', payload: 1, idempotencyKey: 'same' },
          { name: 'task', payload: 1, idempotencyKey: 'same' },
        ]);
        expect(rs[1]?.id).toBe(rs[0]?.id);
        expect(rs.map((r) => r.created)).toEqual([true, false]);
      });

      it('keeps keys per queue', async () => {
        const a = await t.add(1, { idempotencyKey: 'k', queue: 'q1' });
        const b = await t.add(2, { idempotencyKey: 'k', queue: 'q2' });
        expect(b.id).not.toBe(a.id);
      });

      it('outlives the job: after purge the key still answers with the result', async () => {
        const a = await t.add('p', { idempotencyKey: 'keep' });
        const [job] = await t.claim();
        await t.store.complete([{ id: a.id, epoch: job?.epoch ?? 0, result: 42 }]);
        await t.clock.advance(1_000);
        expect(await t.store.purge({ finishedBefore: t.clock.now() })).toBe(1);
        expect(await t.store.get(a.id)).toBeUndefined();
        const again = await t.add('p', { idempotencyKey: 'keep' });
        expect(again).toMatchObject({
          id: a.id,
          created: false,
          job: null,
          state: 'succeeded',
          result: 42,
        });
        expect((await t.store.attempts({ jobId: a.id })).map((x) => x.outcome)).toEqual([
          'succeeded',
        ]);
      });
    });

    describe('fencing', () => {
      it('completes with the current epoch and refuses a duplicate completion', async () => {
        const r = await t.add(1);
        const [job] = await t.claim();
        const epoch = job?.epoch ?? 0;
        expect(await t.store.complete([{ id: r.id, epoch }])).toEqual({
          accepted: [r.id],
          refused: [],
        });
        const again = await t.store.complete([{ id: r.id, epoch }]);
        expect(again.accepted).toEqual([]);
        expect(again.refused[0]).toMatchObject({ id: r.id, reason: 'not-leased' });
      });

      it('release hands back an unstarted job without spending the attempt', async () => {
        const r = await t.add(1);
        const [job] = await t.claim();
        const res = await t.store.release([{ id: r.id, epoch: job?.epoch ?? 0 }]);
        expect(res.accepted).toEqual([r.id]);
        expect(await t.store.get(r.id)).toMatchObject({ state: 'pending', attempts: 0 });
        const [again] = await t.claim(10, { workerId: 'w2' });
        expect(again).toMatchObject({ id: r.id, attempts: 1, epoch: 2 });
        const stale = await t.store.release([{ id: r.id, epoch: job?.epoch ?? 0 }]);
        expect(stale.refused[0]).toMatchObject({ reason: 'stale-epoch' });
      });

      it('refuses unknown ids', async () => {
        const res = await t.store.complete([{ id: '999999', epoch: 1 }]);
        expect(res.refused[0]).toMatchObject({ id: '999999', reason: 'not-found' });
      });

      it('heartbeats extend leases; a lost lease is refused', async () => {
        const r = await t.add(1);
        const [job] = await t.claim();
        await t.clock.advance(LEASE - 1);
        const hb = await t.store.heartbeat([{ id: r.id, epoch: job?.epoch ?? 0 }], LEASE);
        expect(hb.accepted).toEqual([r.id]);
        await t.clock.advance(LEASE - 1);
        expect(await t.claim(10, { workerId: 'w2' })).toEqual([]); // still leased
        await t.clock.advance(2);
        const [stolen] = await t.claim(10, { workerId: 'w2' });
        expect(stolen?.epoch).toBe((job?.epoch ?? 0) + 1);
        const late = await t.store.heartbeat([{ id: r.id, epoch: job?.epoch ?? 0 }], LEASE);
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
            const enqueued = await t.store.enqueue(
              Array.from({ length: 6 }, (_, i) => ({ queue, name: 'task', payload: i })),
            );
            const held: { id: string; epoch: number }[][] = [[], [], []];
            for (const a of actions) {
              if (a.kind === 'claim') {
                const jobs = await t.store.claim({
                  workerId: `w${String(a.worker)}`,
                  limit: a.limit,
                  leaseMs: LEASE,
                  queues: [queue],
                });
                held[a.worker]?.push(...jobs.map((j) => ({ id: j.id, epoch: j.epoch })));
              } else if (a.kind === 'complete') {
                const mine = held[a.worker]?.splice(0) ?? [];
                await t.store.complete(mine.map((l) => ({ ...l, result: l.epoch })));
              } else if (a.kind === 'crash') {
                held[a.worker]?.splice(0);
              } else {
                await t.clock.advance(a.ms);
              }
            }
            // Recovery: whatever is left is reclaimed after the lease and finished.
            await t.clock.advance(LEASE);
            for (;;) {
              const jobs = await t.store.claim({
                workerId: 'rescuer',
                limit: 10,
                leaseMs: LEASE,
                queues: [queue],
              });
              if (jobs.length === 0) break;
              await t.store.complete(
                jobs.map((j) => ({ id: j.id, epoch: j.epoch, result: j.epoch })),
              );
            }
            for (const r of enqueued) {
              const job = await t.store.get(r.id);
              expect(job?.state).toBe('succeeded');
              // The stored result is the epoch of the one completion that was accepted.
              expect(job?.result).toBe(job?.epoch);
              const log = await t.store.attempts({ jobId: r.id });
              expect(log.filter((x) => x.outcome === 'succeeded')).toHaveLength(1);
            }
          }),
          { numRuns: 25 },
        );
      });

      it('crash between claim and complete: the job is reclaimed after the lease', async () => {
        const r = await t.add('work');
        const [lost] = await t.claim(10, { workerId: 'crashed' });
        expect(lost?.id).toBe(r.id);
        // the worker dies here: no heartbeat, no completion
        await t.clock.advance(LEASE);
        const [again] = await t.claim(10, { workerId: 'w2' });
        expect(again).toMatchObject({ id: r.id, attempts: 2, epoch: 2, leaseOwner: 'w2' });
        await t.store.complete([{ id: r.id, epoch: again?.epoch ?? 0 }]);
        const log = await t.store.attempts({ jobId: r.id });
        expect(log.map((a) => [a.workerId, a.epoch, a.outcome])).toEqual([
          ['crashed', 1, 'expired'],
          ['w2', 2, 'succeeded'],
        ]);
      });

      it('lease expiry then stale completion: refused, and the new holder wins', async () => {
        const r = await t.add('slow');
        const [slow] = await t.claim(10, { workerId: 'slow' });
        await t.clock.advance(LEASE + 1);
        const [fresh] = await t.claim(10, { workerId: 'fresh' });
        const stale = await t.store.complete([
          { id: r.id, epoch: slow?.epoch ?? 0, result: 'old' },
        ]);
        expect(stale.accepted).toEqual([]);
        expect(stale.refused[0]).toMatchObject({
          id: r.id,
          reason: 'stale-epoch',
          currentEpoch: fresh?.epoch,
        });
        const ok = await t.store.complete([{ id: r.id, epoch: fresh?.epoch ?? 0, result: 'new' }]);
        expect(ok.accepted).toEqual([r.id]);
        expect((await t.store.get(r.id))?.result).toBe('new');
      });

      it('an expired but unreclaimed lease can still complete', async () => {
        const r = await t.add(1);
        const [job] = await t.claim();
        await t.clock.advance(LEASE * 3);
        expect((await t.store.complete([{ id: r.id, epoch: job?.epoch ?? 0 }])).accepted).toEqual([
          r.id,
        ]);
      });

      it('duplicate delivery: two claimers never hold one job at once', async () => {
        await t.store.enqueue(Array.from({ length: 50 }, (_, i) => ({ name: 'task', payload: i })));
        const other = await t.other();
        const [a, b] = await Promise.all([
          t.store.claim({ workerId: 'a', limit: 30, leaseMs: LEASE }),
          other.claim({ workerId: 'b', limit: 30, leaseMs: LEASE }),
        ]);
        const ids = [...a, ...b].map((j) => j.id);
        expect(ids).toHaveLength(50);
        expect(new Set(ids).size).toBe(50);
      });

      it('duplicate enqueue under concurrency creates exactly one job', async () => {
        const other = await t.other();
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 === 0 ? t.store : other).enqueue([
              { name: 'task', payload: { same: true }, idempotencyKey: 'race' },
            ]),
          ),
        );
        const ids = new Set(results.map((r) => r[0]?.id));
        expect(ids.size).toBe(1);
        expect(results.filter((r) => r[0]?.created).length).toBe(1);
        expect((await t.store.counts()).byState.pending).toBe(1);
      });

      it('poison job: retried until maxAttempts, then dead, then requeued', async () => {
        const r = await t.add('poison', { maxAttempts: 3 });
        for (let attempt = 1; attempt <= 3; attempt++) {
          const [job] = await t.claim();
          expect(job?.attempts).toBe(attempt);
          const res = await t.store.fail([
            {
              id: r.id,
              epoch: job?.epoch ?? 0,
              error: `boom ${attempt}`,
              retryAt: t.clock.now() + 100,
            },
          ]);
          expect(res.accepted).toEqual([r.id]);
          expect(attempt < 3 ? res.retrying : res.dead).toEqual([r.id]);
          if (attempt < 3) {
            expect((await t.store.get(r.id))?.state).toBe('failed');
            expect(await t.claim()).toEqual([]); // not before retryAt
            await t.clock.advance(100);
          }
        }
        const dead = await t.store.get(r.id);
        expect(dead).toMatchObject({ state: 'dead', lastError: 'boom 3', attempts: 3 });
        expect(await t.claim()).toEqual([]);
        expect(await t.store.requeue([r.id])).toEqual([r.id]);
        const [again] = await t.claim();
        expect(again).toMatchObject({ id: r.id, attempts: 1, state: 'leased' });
        const log = await t.store.attempts({ jobId: r.id });
        expect(log.map((a) => a.outcome)).toEqual(['failed', 'failed', 'dead']);
        expect(log.map((a) => a.error)).toEqual(['boom 1', 'boom 2', 'boom 3']);
      });

      it('a job whose worker keeps crashing goes dead when its last lease expires', async () => {
        const r = await t.add('crasher', { maxAttempts: 2 });
        await t.claim();
        await t.clock.advance(LEASE);
        await t.claim();
        await t.clock.advance(LEASE);
        expect(await t.claim()).toEqual([]);
        expect((await t.store.get(r.id))?.state).toBe('dead');
        expect((await t.store.attempts({ jobId: r.id })).map((a) => a.outcome)).toEqual([
          'expired',
          'expired',
        ]);
      });

      it('fail with dead: true skips the remaining attempts', async () => {
        const r = await t.add(1, { maxAttempts: 10 });
        const [job] = await t.claim();
        const res = await t.store.fail([
          { id: r.id, epoch: job?.epoch ?? 0, error: 'bad', dead: true },
        ]);
        expect(res.dead).toEqual([r.id]);
      });
    });

    describe('dead letter, cancel, requeue', () => {
      it('cancels pending and leased jobs, fencing the holder', async () => {
        const a = await t.add(1);
        const b = await t.add(2);
        const [held] = await t.claim(1);
        expect(await t.store.cancel([a.id, b.id])).toEqual([a.id, b.id]);
        const res = await t.store.complete([{ id: held?.id ?? '', epoch: held?.epoch ?? 0 }]);
        expect(res.refused).toHaveLength(1);
        expect((await t.store.get(a.id))?.state).toBe('cancelled');
        expect(await t.store.cancel([a.id])).toEqual([]);
        expect(await t.store.requeue([a.id])).toEqual([a.id]);
        expect((await t.store.get(a.id))?.state).toBe('pending');
      });

      it('dead-letters by hand with a reason', async () => {
        const a = await t.add(1);
        expect(await t.store.deadLetter([a.id], 'operator')).toEqual([a.id]);
        expect(await t.store.get(a.id)).toMatchObject({ state: 'dead', lastError: 'operator' });
      });
    });

    describe('partitions', () => {
      it('computes a deterministic partition from the key', async () => {
        const r = await t.add(1, { partitionKey: 'tenant-a' });
        expect(r.job?.partition).toBe(partitionOf('tenant-a'));
        expect(partitionOf('tenant-a')).toBe(partitionOf('tenant-a'));
      });

      it('ordered mode: one in flight per key, in enqueue order', async () => {
        await t.store.enqueue([
          { name: 'task', payload: 'a1', partitionKey: 'A', ordered: true },
          { name: 'task', payload: 'a2', partitionKey: 'A', ordered: true },
          { name: 'task', payload: 'b1', partitionKey: 'B', ordered: true },
          { name: 'task', payload: 'a3', partitionKey: 'A', ordered: true, priority: 9 },
        ]);
        const first = await t.claim(10);
        expect(first.map((j) => j.payload).sort()).toEqual(['a1', 'b1']);
        expect(await t.claim(10)).toEqual([]);
        const a1 = first.find((j) => j.payload === 'a1') as JobRecord;
        // a failed head keeps blocking its successors until it finishes
        await t.store.fail([
          { id: a1.id, epoch: a1.epoch, error: 'x', retryAt: t.clock.now() + 50 },
        ]);
        expect(await t.claim(10)).toEqual([]);
        await t.clock.advance(50);
        const [retry] = await t.claim(10);
        expect(retry?.payload).toBe('a1');
        await t.store.complete([{ id: retry?.id ?? '', epoch: retry?.epoch ?? 0 }]);
        expect((await t.claim(10)).map((j) => j.payload)).toEqual(['a2']);
      });

      it('weighted fair selection: a hot tenant does not starve the others', async () => {
        await t.store.enqueue(
          Array.from({ length: 100 }, (_, i) => ({
            name: 'task',
            payload: i,
            partitionKey: 'hot',
          })),
        );
        await t.store.enqueue([
          { name: 'task', payload: 'c1', partitionKey: 'cold' },
          { name: 'task', payload: 'c2', partitionKey: 'cold' },
          { name: 'task', payload: 'w1', partitionKey: 'warm' },
        ]);
        const batch = await t.claim(6);
        const byKey = (k: string) => batch.filter((j) => j.partitionKey === k).length;
        expect(byKey('cold')).toBe(2);
        expect(byKey('warm')).toBe(1);
        expect(byKey('hot')).toBe(3);
      });

      it('weights give a tenant a larger share', async () => {
        await t.store.enqueue([
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
        const batch = await t.claim(9, { weights: { a: 2 } });
        expect(batch.filter((j) => j.partitionKey === 'a').length).toBe(6);
        expect(batch.filter((j) => j.partitionKey === 'b').length).toBe(3);
      });

      it('replays a partition since a point', async () => {
        await t.add('before', { partitionKey: 'P' });
        await t.clock.advance(1_000);
        const since = t.clock.now();
        await t.add('after1', { partitionKey: 'P' });
        await t.add('other', { partitionKey: 'Q' });
        await t.add('after2', { partitionKey: 'P' });
        for (const j of await t.claim(10)) await t.store.complete([{ id: j.id, epoch: j.epoch }]);
        const listed = await t.store.replay({ partitionKey: 'P', since, dryRun: true });
        expect(listed.map((j) => [j.payload, j.state])).toEqual([
          ['after1', 'succeeded'],
          ['after2', 'succeeded'],
        ]);
        const replayed = await t.store.replay({ partition: partitionOf('P'), since });
        expect(replayed.filter((j) => j.partitionKey === 'P').map((j) => j.state)).toEqual([
          'pending',
          'pending',
        ]);
        expect((await t.claim(10)).map((j) => j.payload).sort()).toEqual(
          replayed.map((j) => j.payload).sort(),
        );
      });
    });

    describe('wake-ups', () => {
      it('notifies enqueues, requeues and releases when the store supports wake-ups', async () => {
        if (typeof t.store.onEnqueued !== 'function') {
          expect(typeof t.store.onEnqueued).toBe('undefined'); // polling only: allowed by the contract
          return;
        }
        const events: { queue: string; count: number }[] = [];
        const sub = t.store.onEnqueued((e) => events.push({ queue: e.queue, count: e.count }));
        await t.store.enqueue([
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

    describe('queries and counts', () => {
      it('counts by state, queue and partition, and the oldest ready age', async () => {
        await t.add(1, { queue: 'q1', partitionKey: 'k' });
        await t.clock.advance(500);
        await t.add(2, { queue: 'q2' });
        await t.claim(1);
        const c = await t.store.counts();
        expect(c.byState).toMatchObject({ pending: 1, leased: 1 });
        expect(c.byQueue.q1).toMatchObject({ leased: 1 });
        expect(c.byQueue.q2).toMatchObject({ pending: 1 });
        expect(c.byPartition[String(partitionOf('k'))]).toMatchObject({ leased: 1 });
        expect(c.byPartition.none).toMatchObject({ pending: 1 });
        expect(c.oldestReadyAgeMs).toBe(0);
        await t.clock.advance(250);
        expect((await t.store.counts()).oldestReadyAgeMs).toBe(250);
      });

      it('queries by state with a seq cursor', async () => {
        await t.store.enqueue(Array.from({ length: 5 }, (_, i) => ({ name: 'task', payload: i })));
        const page1 = await t.store.query({ state: 'pending', limit: 2 });
        expect(page1.map((j) => j.payload)).toEqual([0, 1]);
        const page2 = await t.store.query({
          state: ['pending'],
          afterSeq: page1[1]?.seq ?? 0,
          limit: 10,
        });
        expect(page2.map((j) => j.payload)).toEqual([2, 3, 4]);
      });
    });
  });
}
