import diagnosticsChannel from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';

import { ClosedError } from '../core/index.js';
import { gate, setup, tick, withMethods } from './__fixtures__/worker.js';
import { LeaseLostError, NonRetryableError } from './errors.js';
import type { FullJobStore } from './store.js';
import { Queue } from './queue.js';
import { Worker, type JobContext } from './worker.js';

describe('Queue', () => {
  it('adds jobs with options and returns the first job for a duplicate key', async () => {
    const { clock, store, queue } = setup();
    const a = await queue.add('email', { to: 'x' }, { idempotencyKey: 'k', priority: 3 });
    const b = await queue.add('email', { to: 'x' }, { idempotencyKey: 'k' });
    expect(b).toMatchObject({ id: a.id, created: false });
    const later = await queue.add('email', { to: 'y' }, { delayMs: 500, dependsOn: [a] });
    expect(later.job).toMatchObject({ runAt: clock.now() + 500, dependsOn: [a.id] });
    const many = await queue.addMany([
      { name: 'x', payload: 1 },
      { name: 'x', payload: 2, options: { partitionKey: 't1', ordered: true } },
    ]);
    expect(many.map((r) => r.created)).toEqual([true, true]);
    expect((await queue.counts()).byState.pending).toBe(4);
    await store.close();
  });

  it('lists the dead-letter queue, requeues and cancels', async () => {
    const { store, queue } = setup();
    const a = await queue.add('x', 1);
    const b = await queue.add('x', 2);
    await store.deadLetter([a.id], 'bad input');
    expect((await queue.dead()).map((j) => j.id)).toEqual([a.id]);
    expect(await queue.requeue([a.id])).toEqual([a.id]);
    expect(await queue.cancel([b.id])).toEqual([b.id]);
    expect((await queue.get(b.id))?.state).toBe('cancelled');
    expect(await queue.dead()).toEqual([]);
  });

  it('rejects unknown job options', async () => {
    const { queue } = setup();
    await expect(queue.add('x', 1, { idempotencykey: 'k' } as never)).rejects.toThrow(
      /unknown option "idempotencykey"/,
    );
  });

  it('checks its defaults at construction: names and values', () => {
    const { store, queue } = setup();
    expect(() => new Queue(store, { defaults: { maxattempts: 3 } as never })).toThrow(
      /unknown option "maxattempts"/,
    );
    // Per-job options make no sense as defaults.
    expect(() => new Queue(store, { defaults: { idempotencyKey: 'k' } as never })).toThrow(
      /unknown option "idempotencyKey"/,
    );
    expect(() => new Queue(store, { defaults: { maxAttempts: 0 } })).toThrow(
      /new Queue\(\): defaults\.maxAttempts must be .*got 0/,
    );
    const checked = new Queue(store, { defaults: { maxAttempts: 3, priority: 2 } });
    expect(checked.name).toBe(queue.name);
  });
});

describe('Worker', () => {
  it('claims and settles in batches', async () => {
    const { store, queue, clock } = setup();
    await queue.addMany(Array.from({ length: 200 }, (_, i) => ({ name: 'double', payload: i })));
    const worker = new Worker(
      store,
      { double: (n: number) => n * 2 },
      { clock, concurrency: 10, claimBatch: 100 },
    );
    await worker.drain();
    const done = await store.query({ state: 'succeeded', limit: 1000 });
    expect(done).toHaveLength(200);
    expect(done.map((j) => j.result)).toEqual(done.map((j) => (j.payload as number) * 2));
    const stats = worker.stats();
    expect(stats.succeeded).toBe(200);
    // Claims of claimBatch (100): two full ones, the empty one that finds the queue
    // drained (sent before the commit: claims do not wait for commits), and one more
    // after the commit, since a completion may make dependents ready.
    expect(stats.claimCalls).toBe(4);
    // The handler is synchronous and the memory store answers within the turn, so every
    // job finishes before the group commit (scheduled for the next turn) starts: one commit.
    expect(stats.flushCalls).toBe(1);
    expect(stats.successRate).toBe(1);
    await worker.close();
    expect(worker.stats().state).toBe('closed');
  });

  it('retries with backoff, then succeeds; the attempt log has every attempt', async () => {
    const { store, queue, clock } = setup();
    const { id } = await queue.add('flaky', null, { backoff: 1_000 });
    let calls = 0;
    const worker = new Worker(
      store,
      {
        flaky: () => {
          calls++;
          if (calls < 3) throw new Error(`fail ${String(calls)}`);
          return 'ok';
        },
      },
      { clock, pollMs: 100 },
    );
    await worker.drain();
    expect((await store.get(id))?.state).toBe('failed');
    await clock.advance(1_000);
    await worker.drain();
    await clock.advance(1_000);
    await worker.drain();
    expect(await store.get(id)).toMatchObject({ state: 'succeeded', result: 'ok', attempts: 3 });
    const log = await store.attempts({ jobId: id });
    expect(log.map((a) => a.outcome)).toEqual(['failed', 'failed', 'succeeded']);
    expect(log.every((a) => a.workerId === worker.workerId)).toBe(true);
    await worker.close();
  });

  it('poison job: dead after maxAttempts, requeued, then handled', async () => {
    const { store, queue, clock } = setup();
    const { id } = await queue.add('poison', { fixed: false }, { maxAttempts: 2, backoff: 10 });
    let fixed = false;
    const failures: boolean[] = [];
    const worker = new Worker(
      store,
      {
        poison: () => {
          if (!fixed) throw new Error('cannot parse');
          return 'parsed';
        },
      },
      { clock, pollMs: 10 },
    );
    worker.onFailed((e) => failures.push(e.willRetry));
    await worker.drain();
    await clock.advance(10);
    await worker.drain();
    expect(await store.get(id)).toMatchObject({ state: 'dead', attempts: 2 });
    expect(failures).toEqual([true, false]);
    fixed = true;
    await store.requeue([id]);
    await worker.drain();
    expect(await store.get(id)).toMatchObject({ state: 'succeeded', result: 'parsed' });
    await worker.close();
  });

  it('NonRetryableError sends the job to dead at once', async () => {
    const { store, queue, clock } = setup();
    const { id } = await queue.add('bad', null);
    const worker = new Worker(
      store,
      {
        bad: () => {
          throw new NonRetryableError('never valid');
        },
      },
      { clock },
    );
    await worker.drain();
    expect(await store.get(id)).toMatchObject({ state: 'dead', attempts: 1 });
    await worker.close();
  });

  it('a slow handler whose lease expired and was reclaimed: its completion is refused', async () => {
    const { store, queue, clock } = setup();
    const { id } = await queue.add('slow', null);
    // Worker A's heartbeats never reach the store (a partition): its lease expires.
    const partitioned = new Proxy(store, {
      get(target, prop) {
        if (prop === 'heartbeat') return () => Promise.reject(new Error('network down'));
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
      },
    }) as FullJobStore;
    const held = gate<string>();
    const a = new Worker(
      partitioned,
      { slow: () => held.promise },
      {
        clock,
        leaseMs: 1_000,
        pollMs: 60_000,
        workerId: 'A',
      },
    );
    const lost: unknown[] = [];
    a.onLeaseLost((e) => lost.push(e.refusal?.reason));
    await tick();
    expect((await store.get(id))?.leaseOwner).toBe('A');
    await clock.advance(1_000);
    const b = new Worker(store, { slow: () => 'from B' }, { clock, leaseMs: 1_000, workerId: 'B' });
    await b.drain();
    expect(await store.get(id)).toMatchObject({ state: 'succeeded', result: 'from B', epoch: 2 });
    held.open('from A');
    await tick();
    await tick();
    expect(lost).toEqual(['stale-epoch']);
    expect(a.stats().refused).toBe(1);
    expect((await store.get(id))?.result).toBe('from B');
    await a.close();
    await b.close();
  });

  it('aborts ctx.signal with LeaseLostError when a heartbeat is refused (job cancelled)', async () => {
    const { store, queue, clock } = setup();
    const { id } = await queue.add('long', null);
    let reason: unknown;
    const worker = new Worker(
      store,
      {
        long: (_: null, ctx: JobContext) =>
          new Promise((_resolve, reject) => {
            ctx.signal.addEventListener('abort', () => {
              reason = ctx.signal.reason;
              reject(ctx.signal.reason as Error);
            });
          }),
      },
      { clock, leaseMs: 4_000, heartbeatMs: 1_000 },
    );
    await tick();
    await store.cancel([id]);
    await clock.advance(1_000);
    expect(LeaseLostError.is(reason)).toBe(true);
    expect(worker.stats().leaseLost).toBe(1);
    expect((await store.get(id))?.state).toBe('cancelled');
    await worker.close();
  });

  it('heartbeats keep a long job leased past leaseMs', async () => {
    const { store, queue, clock } = setup();
    const { id } = await queue.add('long', null);
    const held = gate<string>();
    const worker = new Worker(
      store,
      { long: () => held.promise },
      {
        clock,
        leaseMs: 1_000,
        heartbeatMs: 250,
      },
    );
    await tick();
    await clock.advance(5_000);
    expect(await store.claim({ workerId: 'thief', limit: 1, leaseMs: 1_000 })).toEqual([]);
    held.open('done');
    await worker.drain();
    expect(await store.get(id)).toMatchObject({ state: 'succeeded', attempts: 1 });
    await worker.close();
  });

  it('batch handlers report per-job outcomes; only failed items are retried', async () => {
    const { store, queue, clock } = setup();
    await queue.addMany(
      [1, 2, 3, 4].map((n) => ({ name: 'bulk', payload: n, options: { backoff: 5 } })),
    );
    const batches: number[][] = [];
    let round = 0;
    const worker = new Worker(
      store,
      {
        bulk: {
          handleMany: (jobs: readonly JobContext<number>[]) => {
            round++;
            batches.push(jobs.map((j) => j.job.payload));
            return Promise.resolve(
              jobs.map((j) =>
                round === 1 && j.job.payload % 2 === 0
                  ? { ok: false as const, error: new Error('even fails once') }
                  : { ok: true as const, result: j.job.payload * 10 },
              ),
            );
          },
        },
      },
      { clock, pollMs: 5 },
    );
    await worker.drain();
    await clock.advance(5);
    await worker.drain();
    expect(batches).toEqual([
      [1, 2, 3, 4],
      [2, 4],
    ]);
    const done = await store.query({ state: 'succeeded' });
    expect(done.map((j) => j.result)).toEqual([10, 20, 30, 40]);
    await worker.close();
  });

  it('durable steps: a retry resumes after the last finished step', async () => {
    const { store, queue, clock } = setup();
    await queue.add('order', { id: 7 }, { backoff: 10 });
    const effects: string[] = [];
    let crash = true;
    const worker = new Worker(
      store,
      {
        order: async (p: { id: number }, ctx: JobContext) => {
          const charge = await ctx.step('charge', () => {
            effects.push(`charge ${String(p.id)}`);
            return { chargeId: `ch_${String(p.id)}` };
          });
          if (crash) {
            crash = false;
            throw new Error('crashed after charging');
          }
          await ctx.step('ship', () => effects.push(`ship ${charge.chargeId}`));
          return charge;
        },
      },
      { clock, pollMs: 10 },
    );
    await worker.drain();
    await clock.advance(10);
    await worker.drain();
    expect(effects).toEqual(['charge 7', 'ship ch_7']);
    expect((await store.query({ state: 'succeeded' }))[0]?.result).toEqual({ chargeId: 'ch_7' });
    await worker.close();
  });

  it('ordered partitions run one at a time per key, in enqueue order', async () => {
    const { store, queue, clock } = setup();
    await queue.addMany(
      ['a1', 'b1', 'a2', 'b2', 'a3'].map((p) => ({
        name: 'ev',
        payload: p,
        options: { partitionKey: p[0] ?? '', ordered: true },
      })),
    );
    const order: string[] = [];
    let inFlight = 0;
    let maxPerKey = 0;
    const running = new Map<string, number>();
    const worker = new Worker(
      store,
      {
        ev: async (p: string) => {
          inFlight++;
          const key = p[0] ?? '';
          running.set(key, (running.get(key) ?? 0) + 1);
          maxPerKey = Math.max(maxPerKey, running.get(key) ?? 0);
          order.push(p);
          await tick();
          running.set(key, (running.get(key) ?? 0) - 1);
          inFlight--;
        },
      },
      { clock, concurrency: 10 },
    );
    await worker.drain();
    expect(maxPerKey).toBe(1);
    expect(order.filter((p) => p.startsWith('a'))).toEqual(['a1', 'a2', 'a3']);
    expect(order.filter((p) => p.startsWith('b'))).toEqual(['b1', 'b2']);
    expect(inFlight).toBe(0);
    await worker.close();
  });

  it('graceful close hands back buffered jobs and waits for running ones', async () => {
    const { store, queue, clock } = setup();
    await queue.addMany(Array.from({ length: 5 }, (_, i) => ({ name: 'w', payload: i })));
    const held = gate<string>();
    const worker = new Worker(store, { w: () => held.promise }, { clock, concurrency: 2 });
    await tick();
    expect(worker.stats()).toMatchObject({ running: 2, buffered: 3 });
    const closing = worker.close();
    await tick();
    expect((await store.counts()).byState).toMatchObject({ pending: 3, leased: 2 });
    held.open('x');
    await closing;
    expect((await store.counts()).byState).toMatchObject({ pending: 3, succeeded: 2 });
    expect((await store.query({ state: 'pending' }))[0]?.attempts).toBe(0);
    await worker.close(); // idempotent
  });

  it('forced close aborts running handlers with ClosedError and leaves their leases to expire', async () => {
    const { store, queue, clock } = setup();
    const { id } = await queue.add('w', null);
    let reason: unknown;
    const worker = new Worker(
      store,
      {
        w: (_: null, ctx: JobContext) =>
          new Promise(() => {
            ctx.signal.addEventListener('abort', () => {
              reason = ctx.signal.reason;
            });
          }),
      },
      { clock },
    );
    await tick();
    await worker.close({ force: true });
    await tick();
    expect(ClosedError.is(reason)).toBe(true);
    // The abandoned handler may still be running: the job is not handed back to race it.
    expect(await store.get(id)).toMatchObject({ state: 'leased', attempts: 1 });
    await worker[Symbol.asyncDispose]();
  });

  it('wakes on enqueue instead of waiting for the poll', async () => {
    const { store, queue, clock } = setup();
    const seen: number[] = [];
    const worker = new Worker(
      store,
      { x: (n: number) => seen.push(n) },
      {
        clock,
        pollMs: 60_000,
      },
    );
    await worker.drain();
    await queue.add('x', 1);
    await worker.drain();
    expect(seen).toEqual([1]);
    await worker.close();
  });

  it('reports latency, throughput and depth in stats()', async () => {
    const { store, queue, clock } = setup();
    await queue.addMany(Array.from({ length: 10 }, (_, i) => ({ name: 'x', payload: i })));
    await clock.advance(250);
    const worker = new Worker(store, { x: () => null }, { clock, depthSampleMs: 1_000 });
    await worker.drain();
    await clock.advance(1_000);
    const s = worker.stats();
    expect(s.enqueueToStartMs).toMatchObject({ count: 10, p50: 250, max: 250 });
    expect(s.runMs.count).toBe(10);
    // 10 successes over the 1 s the worker has been running (the window is at least 1 s).
    expect(s.throughputPerSec).toBe(10);
    expect(s.depth?.byState.succeeded).toBe(10);
    await worker.close();
  });

  it('publishes claimed and settled events on diagnostics channels', async () => {
    const { store, queue, clock } = setup();
    await queue.addMany(Array.from({ length: 5 }, (_, i) => ({ name: 'x', payload: i })));
    const seen: string[] = [];
    const onClaimed = (m: unknown) =>
      seen.push(`claimed ${String((m as { count: number }).count)}`);
    const onSettled = (m: unknown) =>
      seen.push(`settled ${String((m as { succeeded: number }).succeeded)}`);
    diagnosticsChannel.subscribe('batchflight:jobs:claimed', onClaimed);
    diagnosticsChannel.subscribe('batchflight:jobs:settled', onSettled);
    try {
      const worker = new Worker(store, { x: () => null }, { clock });
      await worker.drain();
      await worker.close();
    } finally {
      diagnosticsChannel.unsubscribe('batchflight:jobs:claimed', onClaimed);
      diagnosticsChannel.unsubscribe('batchflight:jobs:settled', onSettled);
    }
    expect(seen).toEqual(['claimed 5', 'settled 5']);
  });

  it('claims while a commit is in flight, holding at most 3 × claimBatch + concurrency jobs', async () => {
    const { store, queue, clock } = setup();
    await queue.addMany(Array.from({ length: 100 }, (_, i) => ({ name: 'w', payload: i })));
    const commit = gate();
    let commitsSent = 0;
    const slow = withMethods(store, {
      complete: async (original, completions) => {
        commitsSent++;
        await commit.promise;
        return original(completions);
      },
    });
    const worker = new Worker(slow, { w: () => null }, { clock, concurrency: 10, claimBatch: 10 });
    for (let i = 0; i < 20; i++) await tick();
    // The first commit hangs: claims went on (each claim leaves at most 2 × claimBatch
    // jobs buffered or uncommitted, plus the ones running), then stopped.
    expect(commitsSent).toBe(1);
    expect(worker.stats()).toMatchObject({ claimCalls: 4, claimed: 40, succeeded: 0 });
    commit.open();
    await worker.drain();
    expect((await store.counts()).byState.succeeded).toBe(100);
    await worker.close();
  });

  it('runs up to concurrency even when it exceeds claimBatch', async () => {
    const { store, queue, clock } = setup();
    await queue.addMany(Array.from({ length: 40 }, (_, i) => ({ name: 'w', payload: i })));
    const held = gate();
    const worker = new Worker(
      store,
      { w: () => held.promise },
      {
        clock,
        concurrency: 20,
        claimBatch: 5,
      },
    );
    for (let i = 0; i < 20; i++) await tick();
    expect(worker.stats().running).toBe(20);
    held.open();
    await worker.drain();
    expect((await store.counts()).byState.succeeded).toBe(40);
    await worker.close();
  });

  it('validates options', () => {
    const { store } = setup();
    expect(() => new Worker(store, {})).toThrow(/at least one job handler/);
    expect(() => new Worker(store, { x: () => 1 }, { concurrency: 0 })).toThrow(
      /concurrency must be an integer >= 1, got 0/,
    );
    expect(() => new Worker(store, { x: () => 1 }, { leaseMs: 1000, heartbeatMs: 2000 })).toThrow(
      /heartbeatMs/,
    );
    expect(() => new Worker(store, { x: {} })).toThrow(/handle/);
  });

  it('validates the claim options at construction, echoing the value and the rule', () => {
    const { store } = setup();
    const make = (options: object) => () => new Worker(store, { x: () => 1 }, options);
    expect(make({ queues: 'default' })).toThrow(
      'new Worker(): option queues must be a non-empty array of non-empty queue names, got "default".',
    );
    expect(make({ queues: [] })).toThrow(/queues must be a non-empty array .*, got \[\]\./);
    expect(make({ queues: ['a', ''] })).toThrow(/got \["a", ""\]\./);
    expect(make({ weights: { a: 2, b: Infinity, c: 0 } })).toThrow(
      'new Worker(): option weights must be an object of finite numbers > 0 by partition key, got "b": Infinity, "c": 0.',
    );
    expect(make({ weights: [1] })).toThrow(/weights must be .*, got an array of length 1\./);
    expect(make({ agingMs: 0 })).toThrow(
      'new Worker(): option agingMs must be a number > 0, got 0.',
    );
    expect(make({ agingMs: NaN })).toThrow(/agingMs must be a number > 0, got NaN/);
    expect(make({ workerId: '' })).toThrow(
      'new Worker(): option workerId must be a non-empty string of at most 200 characters, got "".',
    );
    expect(make({ workerId: 'w'.repeat(201) })).toThrow(/workerId must be a non-empty string/);
    expect(
      make({ agingMs: Infinity, weights: { a: 0.5 }, queues: ['a'], workerId: 'w' }),
    ).not.toThrow();
  });

  it('validates close() options', async () => {
    const { store, clock } = setup();
    const worker = new Worker(store, { x: () => 1 }, { clock, autoStart: false });
    await expect(worker.close({ timeoutMs: -1 })).rejects.toThrow(
      /timeoutMs must be a number >= 0, got -1/,
    );
    await expect(worker.close({ forced: true } as never)).rejects.toThrow(
      /unknown option "forced"/,
    );
    await worker.close();
  });
});
