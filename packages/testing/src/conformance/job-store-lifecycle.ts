/**
 * The `JobStore` conformance suite, job lifecycle part: option validation
 * shared by every store, dependencies on jobs that end dead or cancelled,
 * fencing of `fail` and `deadLetter`, requeue options, ordered partitions
 * whose head ends, and attempt payloads.
 */
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from 'batchflight/core';
import type { BackoffSpec, PurgeOptions, ReplayOptions } from 'batchflight/jobs';
import type { JobStore } from 'batchflight/jobs';
import { rejection } from '../deferred.js';
import type { JobSuiteContext } from './harness.js';

/** Expects an `InvalidOptionError` on `option` whose message matches every pattern. */
function expectInvalid(error: unknown, option: string, ...patterns: RegExp[]): void {
  expect(InvalidOptionError.is(error), String(error)).toBe(true);
  const e = error as InvalidOptionError;
  expect(e.option).toBe(option);
  for (const pattern of patterns) expect(e.message).toMatch(pattern);
}

/** Registers the lifecycle tests on the suite's per-test store. */
export function jobLifecycleConformance(t: JobSuiteContext<JobStore>): void {
  describe('option validation shared by every store', () => {
    it('enqueue refuses a backoff spec the worker could not build, echoing it; nothing is enqueued', async () => {
      const cases: [unknown, RegExp][] = [
        [{ type: 'constant' }, /delayMs/],
        [{ type: 'exponential', initialDelayMs: 400_000 }, /maxDelayMs/],
        [{ type: 'exponential', jitter: 'sometimes' }, /jitter/],
        [{ type: 'linear', delayMs: 5 }, /exponential' \| 'constant/],
        [-5, /delayMs/],
      ];
      for (const [backoff, rule] of cases) {
        const error = await rejection(
          t.store.enqueue([
            { name: 'task', payload: 1 },
            { name: 'task', payload: 2, backoff: backoff as BackoffSpec },
          ]),
        );
        expectInvalid(error, 'backoff', rule, new RegExp(`got ${escape(JSON.stringify(backoff))}`));
      }
      expect((await t.store.counts()).byState.pending).toBe(0);
      // What the worker can build is accepted.
      for (const backoff of [0, 250, { type: 'constant', delayMs: 10 }, { type: 'exponential' }]) {
        expect((await t.add(backoff, { backoff: backoff as BackoffSpec })).created).toBe(true);
      }
    });

    it('purge without finishedBefore, or with a non-terminal state, is refused and deletes nothing', async () => {
      const r = await t.add(1);
      const [job] = await t.claim();
      await t.store.complete([{ id: r.id, epoch: job?.epoch ?? 0 }]);
      await t.clock.advance(1_000);
      expectInvalid(
        await rejection(t.store.purge({} as PurgeOptions)),
        'finishedBefore',
        /purge\(\): finishedBefore must be a finite number/,
        /got undefined/,
      );
      expectInvalid(
        await rejection(t.store.purge({ finishedBefore: t.clock.now(), states: ['pending'] })),
        'states',
        /terminal states/,
        /got \["pending"\]/,
      );
      expect((await t.store.get(r.id))?.state).toBe('succeeded');
      expect(await t.store.purge({ finishedBefore: t.clock.now() })).toBe(1);
    });

    it('replay without since, or without exactly one partition selector, is refused and replays nothing', async () => {
      const r = await t.add(1, { partitionKey: 'P' });
      const [job] = await t.claim();
      await t.store.complete([{ id: r.id, epoch: job?.epoch ?? 0 }]);
      expectInvalid(
        await rejection(t.store.replay({ partitionKey: 'P' } as ReplayOptions)),
        'since',
        /replay\(\): since must be a finite number/,
        /got undefined/,
      );
      expectInvalid(await rejection(t.store.replay({ since: 0 })), 'partition', /exactly one/);
      expectInvalid(
        await rejection(t.store.replay({ since: 0, partition: 1, partitionKey: 'P' })),
        'partition',
        /exactly one/,
        /"partitionKey":"P"/,
      );
      expectInvalid(
        await rejection(t.store.replay({ since: 0, partition: 64 })),
        'partition',
        /\[0, 64\)/,
        /got 64/,
      );
      expect((await t.store.get(r.id))?.state).toBe('succeeded');
    });
  });

  describe('dependencies that end dead or cancelled', () => {
    it('a dead job cancels its pending dependents, transitively, with the reason and a log entry', async () => {
      const parent = await t.add('parent', { maxAttempts: 1 });
      const child = await t.add('child', { dependsOn: [parent.id] });
      const grandchild = await t.add('grandchild', { dependsOn: [child.id] });
      const other = await t.add('independent');
      const [p] = await t.claim(1);
      const res = await t.store.fail([{ id: parent.id, epoch: p?.epoch ?? 0, error: 'boom' }]);
      expect(res.dead).toEqual([parent.id]);
      expect(await t.store.get(child.id)).toMatchObject({
        state: 'cancelled',
        lastError: `dependency ${parent.id} dead`,
      });
      expect(await t.store.get(grandchild.id)).toMatchObject({
        state: 'cancelled',
        lastError: `dependency ${child.id} cancelled`,
      });
      for (const [id, error] of [
        [child.id, `dependency ${parent.id} dead`],
        [grandchild.id, `dependency ${child.id} cancelled`],
      ] as const) {
        const log = await t.store.attempts({ jobId: id });
        expect(log.map((a) => [a.outcome, a.error])).toEqual([['cancelled', error]]);
      }
      expect((await t.claim()).map((j) => j.id)).toEqual([other.id]);
    });

    it('cancel and deadLetter cancel dependents too; so does a lease expiring at the last attempt', async () => {
      const a = await t.add('a');
      const aChild = await t.add('a-child', { dependsOn: [a.id] });
      const b = await t.add('b');
      const bChild = await t.add('b-child', { dependsOn: [b.id] });
      expect(await t.store.cancel([a.id])).toEqual([a.id]);
      expect(await t.store.deadLetter([b.id], 'operator')).toEqual([b.id]);
      expect((await t.store.get(aChild.id))?.lastError).toBe(`dependency ${a.id} cancelled`);
      expect((await t.store.get(bChild.id))?.lastError).toBe(`dependency ${b.id} dead`);

      const crasher = await t.add('crasher', { maxAttempts: 1 });
      const waiting = await t.add('waiting', { dependsOn: [crasher.id] });
      await t.claim(); // the worker dies: no completion
      await t.clock.advance(t.lease);
      expect(await t.claim()).toEqual([]);
      expect((await t.store.get(crasher.id))?.state).toBe('dead');
      expect(await t.store.get(waiting.id)).toMatchObject({
        state: 'cancelled',
        lastError: `dependency ${crasher.id} dead`,
      });
    });

    it('enqueue depending on a dead or cancelled job creates the job cancelled', async () => {
      const dead = await t.add('dead');
      await t.store.deadLetter([dead.id], 'operator');
      const cancelled = await t.add('cancelled');
      await t.store.cancel([cancelled.id]);
      const [x, y] = await t.store.enqueue([
        { name: 'task', payload: 'x', dependsOn: [dead.id] },
        { name: 'task', payload: 'y', dependsOn: [cancelled.id] },
      ]);
      expect(x).toMatchObject({ created: true, state: 'cancelled' });
      expect(x?.job).toMatchObject({ state: 'cancelled', lastError: `dependency ${dead.id} dead` });
      expect(await t.store.get(y?.id ?? '')).toMatchObject({
        state: 'cancelled',
        lastError: `dependency ${cancelled.id} cancelled`,
      });
      expect(await t.claim()).toEqual([]);
    });

    it('requeue of the parent does not revive its dependents; they are requeued after it', async () => {
      const parent = await t.add('parent');
      const child = await t.add('child', { dependsOn: [parent.id] });
      await t.store.deadLetter([parent.id], 'operator');
      // The child cannot go back to pending while its dependency is dead.
      expect(await t.store.requeue([child.id])).toEqual([]);
      expect(await t.store.requeue([parent.id])).toEqual([parent.id]);
      expect((await t.store.get(child.id))?.state).toBe('cancelled');
      expect(await t.store.requeue([child.id])).toEqual([child.id]);
      const [p] = await t.claim();
      expect(p?.id).toBe(parent.id);
      await t.store.complete([{ id: parent.id, epoch: p?.epoch ?? 0 }]);
      expect((await t.claim()).map((j) => j.id)).toEqual([child.id]);
    });

    it('purging a dead parent never makes its dependent runnable', async () => {
      const parent = await t.add('parent');
      const child = await t.add('child', { dependsOn: [parent.id] });
      await t.store.deadLetter([parent.id], 'operator');
      await t.clock.advance(1_000);
      expect(await t.store.purge({ finishedBefore: t.clock.now(), states: ['dead'] })).toBe(1);
      expect(await t.claim()).toEqual([]);
      expect((await t.store.get(child.id))?.state).toBe('cancelled');
    });

    it('oldestReadyAgeMs counts only claimable jobs, not those waiting on a dependency or an ordered head', async () => {
      const parent = await t.add('parent', { runAt: t.clock.now() + 60_000 });
      await t.add('child', { dependsOn: [parent.id] });
      await t.add('head', { partitionKey: 'K', ordered: true });
      await t.add('next', { partitionKey: 'K', ordered: true });
      const [head] = await t.claim();
      expect(head?.payload).toBe('head');
      await t.clock.advance(5_000);
      // child waits on parent (not due), next waits on head (leased): nothing is ready.
      expect((await t.store.counts()).oldestReadyAgeMs).toBe(0);
      await t.store.complete([{ id: head?.id ?? '', epoch: head?.epoch ?? 0 }]);
      expect((await t.store.counts()).oldestReadyAgeMs).toBe(5_000);
    });
  });

  describe('fencing of fail and deadLetter', () => {
    it('a stale fail() is refused and changes nothing', async () => {
      const r = await t.add(1);
      const [slow] = await t.claim(10, { workerId: 'slow' });
      await t.clock.advance(t.lease);
      const [fresh] = await t.claim(10, { workerId: 'fresh' });
      const res = await t.store.fail([{ id: r.id, epoch: slow?.epoch ?? 0, error: 'late' }]);
      expect(res).toMatchObject({ accepted: [], retrying: [], dead: [] });
      expect(res.refused[0]).toMatchObject({
        id: r.id,
        reason: 'stale-epoch',
        currentEpoch: fresh?.epoch,
      });
      expect(await t.store.get(r.id)).toMatchObject({ state: 'leased', leaseOwner: 'fresh' });
    });

    it('deadLetter of a leased job fences its worker: its complete is refused', async () => {
      const r = await t.add(1);
      const [held] = await t.claim();
      expect(await t.store.deadLetter([r.id], 'operator')).toEqual([r.id]);
      const res = await t.store.complete([{ id: r.id, epoch: held?.epoch ?? 0, result: 'late' }]);
      expect(res.accepted).toEqual([]);
      expect(res.refused[0]).toMatchObject({ id: r.id, reason: 'stale-epoch', state: 'dead' });
      expect(await t.store.get(r.id)).toMatchObject({ state: 'dead', lastError: 'operator' });
      expect((await t.store.attempts({ jobId: r.id })).map((a) => a.outcome)).toEqual(['dead']);
    });
  });

  describe('requeue options', () => {
    it('runAt delays the requeued job; resetAttempts: false keeps the attempts spent', async () => {
      const a = await t.add('a', { maxAttempts: 5 });
      const b = await t.add('b', { maxAttempts: 5 });
      for (const job of await t.claim()) {
        await t.store.fail([{ id: job.id, epoch: job.epoch, error: 'x', dead: true }]);
      }
      expect(await t.store.requeue([a.id], { runAt: t.clock.now() + 1_000 })).toEqual([a.id]);
      expect(await t.store.requeue([b.id], { resetAttempts: false })).toEqual([b.id]);
      expect(await t.store.get(a.id)).toMatchObject({ state: 'pending', attempts: 0 });
      expect(await t.store.get(b.id)).toMatchObject({ state: 'pending', attempts: 1 });
      expect((await t.claim()).map((j) => [j.payload, j.attempts])).toEqual([['b', 2]]);
      await t.clock.advance(1_000);
      expect((await t.claim()).map((j) => [j.payload, j.attempts])).toEqual([['a', 1]]);
      // Only dead, failed and cancelled jobs move.
      expect(await t.store.requeue([a.id, 'no-such-job'])).toEqual([]);
    });
  });

  describe('ordered partitions', () => {
    it('a head that goes dead (or is cancelled) no longer blocks its successors', async () => {
      await t.store.enqueue([
        { name: 'task', payload: 'a1', partitionKey: 'A', ordered: true, maxAttempts: 1 },
        { name: 'task', payload: 'a2', partitionKey: 'A', ordered: true },
        { name: 'task', payload: 'a3', partitionKey: 'A', ordered: true },
      ]);
      const [a1] = await t.claim();
      expect(a1?.payload).toBe('a1');
      await t.store.fail([{ id: a1?.id ?? '', epoch: a1?.epoch ?? 0, error: 'poison' }]);
      expect((await t.store.get(a1?.id ?? ''))?.state).toBe('dead');
      const [a2] = await t.claim();
      expect(a2?.payload).toBe('a2');
      await t.store.cancel([a2?.id ?? '']);
      expect((await t.claim()).map((j) => j.payload)).toEqual(['a3']);
    });
  });

  describe('attempt payloads', () => {
    it('records payloads in the attempt log only when the store is constructed with attemptPayloads', async () => {
      const [entry] = await completeOnce(t.store, t);
      expect(entry).not.toHaveProperty('payload');
      const copying = await t.open({ attemptPayloads: true });
      try {
        const [copied] = await completeOnce(copying.store, t);
        expect(copied?.payload).toEqual({ card: 'tok_1' });
      } finally {
        await copying.store.close();
        await copying.cleanup?.();
      }
    });
  });
}

/** Enqueues, claims and completes one job on `store`; resolves with its attempt log. */
async function completeOnce(store: JobStore, t: JobSuiteContext<JobStore>) {
  const [r] = await store.enqueue([
    { name: 'task', payload: { card: 'tok_1' }, queue: `payloads-${String(t.clock.now())}` },
  ]);
  const [job] = await store.claim({
    workerId: 'w',
    limit: 1,
    leaseMs: t.lease,
    queues: [r?.job?.queue ?? ''],
  });
  await store.complete([{ id: r?.id ?? '', epoch: job?.epoch ?? 0 }]);
  return store.attempts({ jobId: r?.id ?? '' });
}

/** `text` with regular-expression metacharacters escaped. */
function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
