import { describe, expect, it } from 'vitest';

import { InvalidOptionError } from '../core/index.js';
import { setup, tick, withMethods } from './__fixtures__/worker.js';
import { DuplicateStepError, UnstorableValueError } from './errors.js';
import { MemoryJobStore } from './memory-store.js';
import { Queue } from './queue.js';
import { RunWorker } from './run-worker.js';
import type { FailInput, JobRecord, FullJobStore } from './store.js';
import { Worker, type JobContext } from './worker.js';

/** A store error of one item, as PostgreSQL raises it for U+0000 in a jsonb value. */
function refusal(): Error {
  return Object.assign(new Error('unsupported Unicode escape sequence'), { code: '22P05' });
}

/** 20 good jobs and one whose result the store refuses (every batch holding it fails). */
async function oneRefusedResult() {
  const { store, queue, clock } = setup();
  const results = await queue.addMany([
    ...Array.from({ length: 10 }, (_, i) => ({ name: 'job', payload: i })),
    { name: 'job', payload: -1 },
    ...Array.from({ length: 10 }, (_, i) => ({ name: 'job', payload: 10 + i })),
  ]);
  const bad = results[10]?.id ?? '';
  let completeCalls = 0;
  const refusing = withMethods(store, {
    complete: (original, completions) => {
      completeCalls++;
      return completions.some((c) => c.id === bad)
        ? Promise.reject(refusal())
        : original(completions);
    },
  });
  return { store, refusing, clock, bad, calls: () => completeCalls };
}

describe('Worker: one item the store refuses never blocks the others', () => {
  it('a result the store refuses on its own: the other 20 commit, that job is dead with the store error, nothing stays leased', async () => {
    const { store, refusing, clock, bad, calls } = await oneRefusedResult();
    const worker = new Worker(
      refusing,
      { job: (n: number) => n * 2 },
      { clock, concurrency: 21, claimBatch: 50, depthSampleMs: 0 },
    );
    const failed: unknown[] = [];
    worker.onFailed((e) => failed.push(e.error));
    await worker.drain();
    await worker.close();
    const jobs = await store.query({ limit: 100 });
    expect(jobs.filter((j) => j.state === 'leased')).toEqual([]);
    expect(jobs.filter((j) => j.state === 'succeeded')).toHaveLength(20);
    const job = await store.get(bad);
    expect(job?.state).toBe('dead');
    expect(job?.lastError).toMatch(
      /^UnstorableValueError: The job store refused to store the result of job \d+ while it stored the other results of the same commit, so the job cannot succeed: Error: unsupported Unicode escape sequence/,
    );
    expect(UnstorableValueError.is(failed[0])).toBe(true);
    expect(worker.stats()).toMatchObject({ succeeded: 20, dead: 1, refused: 0 });
    // 21 results: whole, halves, quarters, … down to the bad one, then once more alone.
    expect(calls()).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(21)) + 2);
  });

  it('a store that refuses every commit is down, not refusing items: nothing is marked failed, all commit once it is back', async () => {
    const { store, queue, clock } = setup();
    await queue.addMany(Array.from({ length: 8 }, (_, i) => ({ name: 'job', payload: i })));
    let down = true;
    let completeCalls = 0;
    let failCalls = 0;
    const flaky = withMethods(store, {
      complete: (original, completions) => {
        completeCalls++;
        return down ? Promise.reject(new Error('boom')) : original(completions);
      },
      fail: (original, failures) => {
        failCalls++;
        return original(failures);
      },
    });
    const worker = new Worker(
      flaky,
      { job: (n: number) => n },
      { clock, concurrency: 8, pollMs: 100, depthSampleMs: 0 },
    );
    const errors: string[] = [];
    worker.onError((e) => errors.push(`${e.during}: ${String(e.error)}`));
    for (let i = 0; i < 10; i++) await tick();
    // The batch, its halves and its quarters: then it is the store, not an item.
    expect(completeCalls).toBe(7);
    expect(failCalls).toBe(0);
    expect(errors).toEqual(['flush: Error: boom']);
    expect((await store.query({ state: 'leased', limit: 100 })).length).toBe(8);
    down = false;
    await clock.advance(100);
    await worker.drain();
    expect((await store.query({ state: 'succeeded', limit: 100 })).length).toBe(8);
    expect(worker.stats()).toMatchObject({ succeeded: 8, failed: 0, dead: 0 });
    await worker.close();
  });

  it('an error that says the store is failing (a connection error) never marks an item', async () => {
    const { store, queue, clock } = setup();
    const [a] = await queue.addMany([
      { name: 'job', payload: 1 },
      { name: 'job', payload: 2 },
    ]);
    let reset = true;
    const flaky = withMethods(store, {
      complete: (original, completions) =>
        reset && completions.some((c) => c.id === a?.id)
          ? Promise.reject(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))
          : original(completions),
    });
    const worker = new Worker(flaky, { job: (n: number) => n }, { clock, pollMs: 100 });
    for (let i = 0; i < 10; i++) await tick();
    expect((await store.get(a?.id ?? ''))?.state).toBe('leased');
    reset = false;
    await clock.advance(100);
    await worker.drain();
    expect((await store.query({ state: 'succeeded', limit: 10 })).length).toBe(2);
    await worker.close();
  });

  it('a failure whose record the store refuses on its own is recorded with a plain reason', async () => {
    const { store, queue, clock } = setup();
    await queue.addMany([
      { name: 'job', payload: 'ok' },
      { name: 'job', payload: 'odd', options: { maxAttempts: 1 } },
      { name: 'job', payload: 'ok' },
    ]);
    const refusing = withMethods(store, {
      fail: (original, failures) =>
        failures.some((f) => f.error.includes('odd'))
          ? Promise.reject(refusal())
          : original(failures),
    });
    const worker = new Worker(
      refusing,
      {
        job: (p: string) => {
          if (p === 'odd') throw new Error('odd');
          return p;
        },
      },
      { clock },
    );
    await worker.drain();
    await worker.close();
    const [odd] = await store.query({ state: 'dead' });
    expect(odd?.lastError).toBe(
      "The job store refused to record this attempt's failure (the handler's error is not kept): Error: unsupported Unicode escape sequence (22P05)",
    );
    expect((await store.query({ state: 'succeeded' })).length).toBe(2);
  });

  it('an error with U+0000 or a lone surrogate is recorded with U+FFFD in their place', async () => {
    const { store, queue, clock } = setup();
    const { id } = await queue.add('job', null, { maxAttempts: 1 });
    const worker = new Worker(
      store,
      {
        job: () => {
          throw Object.assign(new Error('x\u0000y\ud800z'), { stack: undefined });
        },
      },
      { clock },
    );
    await worker.drain();
    await worker.close();
    expect((await store.get(id))?.lastError).toBe('Error: x\uFFFDy\uFFFDz');
  });

  it('a result JSON would change fails the job without retrying, naming the path', async () => {
    const { store, queue, clock } = setup();
    const { id } = await queue.add('job', null);
    const worker = new Worker(store, { job: () => ({ items: [{ at: new Date(0) }] }) }, { clock });
    await worker.drain();
    await worker.close();
    const job = await store.get(id);
    expect(job).toMatchObject({ state: 'dead', attempts: 1 });
    expect(job?.lastError).toMatch(
      /^UnstorableValueError: result\.items\[0\]\.at is a Date, which JSON stores as a string/,
    );
  });
});

/**
 * The memory store, keeping each job's last retry delay as a store that
 * records `FailInput.delayMs` does (`retryDelayMs`).
 */
function keepingRetryDelays(store: FullJobStore): FullJobStore {
  const delays = new Map<string, number>();
  const withDelay = (job: JobRecord): JobRecord => ({
    ...job,
    retryDelayMs: delays.get(job.id) ?? 0,
  });
  return withMethods(store, {
    fail: async (original, failures: readonly FailInput[]) => {
      const res = await original(failures);
      for (const f of failures) {
        if (res.retrying.includes(f.id) && f.delayMs !== undefined) delays.set(f.id, f.delayMs);
      }
      return res;
    },
    claim: async (original, options) => (await original(options)).map(withDelay),
  });
}

describe('Worker: retry delays', () => {
  it('hands the backoff the previous delay: (1, 0), (2, 80), (3, 80), (4, 80)', async () => {
    const { store, queue, clock } = setup();
    const { id } = await queue.add('job', null, { maxAttempts: 4 });
    const calls: [number, number][] = [];
    const worker = new Worker(
      keepingRetryDelays(store),
      {
        job: {
          handle: () => {
            throw new Error('always');
          },
          backoff: (attempt: number, previousDelayMs: number) => (
            calls.push([attempt, previousDelayMs]),
            80
          ),
        },
      },
      { clock, pollMs: 80 },
    );
    for (let i = 0; i < 4; i++) {
      await worker.drain();
      await clock.advance(80);
    }
    await worker.drain();
    await worker.close();
    expect(calls).toEqual([
      [1, 0],
      [2, 80],
      [3, 80],
      [4, 80],
    ]);
    expect((await store.get(id))?.state).toBe('dead');
  });

  it('a decorrelated backoff grows across attempts', async () => {
    const { store, queue, clock } = setup();
    await queue.add('job', null, {
      maxAttempts: 6,
      backoff: { type: 'exponential', jitter: 'decorrelated', initialDelayMs: 40, maxDelayMs: 1e6 },
    });
    const delays: number[] = [];
    const recording = withMethods(keepingRetryDelays(store), {
      fail: (original, failures) => {
        for (const f of failures) delays.push(f.delayMs ?? -1);
        return original(failures);
      },
    });
    const worker = new Worker(
      recording,
      {
        job: () => {
          throw new Error('always');
        },
      },
      { clock, pollMs: 10 },
    );
    await worker.drain();
    for (let guard = 0; delays.length < 6 && guard < 100_000; guard++) {
      await clock.advance(10);
      await worker.drain();
    }
    await worker.close();
    expect(delays).toHaveLength(6);
    // Decorrelated jitter: each delay is drawn from [initial, 3 × previous]; from the
    // previous delay kept by the store, the upper bound grows.
    for (let i = 1; i < delays.length; i++) {
      expect(delays[i]).toBeLessThanOrEqual(3 * (delays[i - 1] ?? 0));
    }
    expect(Math.max(...delays.slice(3))).toBeGreaterThan(0);
  });

  it('records the delay behind retryAt in FailInput.delayMs', async () => {
    const { store, queue, clock } = setup();
    await queue.add('job', null, { backoff: 250 });
    const sent: FailInput[] = [];
    const recording = withMethods(store, {
      fail: (original, failures) => {
        sent.push(...failures);
        return original(failures);
      },
    });
    const worker = new Worker(
      recording,
      {
        job: () => {
          throw new Error('x');
        },
      },
      { clock },
    );
    await worker.drain();
    await worker.close();
    expect(sent[0]).toMatchObject({ delayMs: 250, retryAt: clock.now() + 250 });
  });
});

describe('Worker: steps', () => {
  it('a step name used twice in one execution is a DuplicateStepError: the job is dead, the second fn never ran', async () => {
    const { store, queue, clock } = setup();
    const { id } = await queue.add('job', null);
    let n = 0;
    let caught: unknown;
    const worker = new Worker(
      store,
      {
        job: async (_: null, ctx: JobContext) => {
          await ctx.step('a', () => ++n);
          try {
            await ctx.step('a', () => ++n);
          } catch (error) {
            caught = error;
            throw error;
          }
        },
      },
      { clock },
    );
    await worker.drain();
    await worker.close();
    expect(n).toBe(1);
    expect(DuplicateStepError.is(caught)).toBe(true);
    expect(caught).toMatchObject({ code: 'ERR_BATCHFLIGHT_DUPLICATE_STEP', step: 'a', jobId: id });
    expect((caught as Error).message).toMatch(/send:\$\{item\.id\}/);
    expect(await store.get(id)).toMatchObject({ state: 'dead', attempts: 1 });
  });

  it('steps named per item run once each; a retry gets their memoised values', async () => {
    const { store, queue, clock } = setup();
    await queue.add('job', [1, 2, 3], { backoff: 10 });
    const sent: number[] = [];
    let attempt = 0;
    const worker = new Worker(
      store,
      {
        job: async (xs: number[], ctx: JobContext) => {
          attempt++;
          for (const x of xs) await ctx.step(`send:${String(x)}`, () => sent.push(x));
          if (attempt === 1) throw new Error('crash after sending');
          return sent.length;
        },
      },
      { clock, pollMs: 10 },
    );
    await worker.drain();
    await clock.advance(10);
    await worker.drain();
    await worker.close();
    expect(sent).toEqual([1, 2, 3]);
    expect((await store.query({ state: 'succeeded' }))[0]?.result).toBe(3);
  });

  it('a step name must be a non-empty string without U+0000', async () => {
    const { store, queue, clock } = setup();
    await queue.add('job', null, { maxAttempts: 1 });
    let caught: unknown;
    const worker = new Worker(
      store,
      {
        job: async (_: null, ctx: JobContext) => {
          caught = await ctx.step('a\u0000', () => 1).catch((e: unknown) => e);
        },
      },
      { clock },
    );
    await worker.drain();
    await worker.close();
    expect(InvalidOptionError.is(caught) && caught.message).toMatch(
      /^ctx\.step\(\): name must be a non-empty string without U\+0000/,
    );
  });
});

describe('construction and argument errors name the argument and the contract', () => {
  it('heartbeatMs equal to leaseMs is refused by Worker and RunWorker', () => {
    const store = new MemoryJobStore();
    expect(
      () =>
        new Worker(store, { x: () => 1 }, { leaseMs: 1_000, heartbeatMs: 1_000, autoStart: false }),
    ).toThrow(
      'new Worker(): option heartbeatMs must be less than leaseMs (1000), so that every lease is renewed before it expires (default leaseMs / 4), got 1000.',
    );
    expect(
      () =>
        new RunWorker(
          store,
          { r: { processSlice: () => undefined } },
          {
            leaseMs: 1_000,
            heartbeatMs: 1_000,
          },
        ),
    ).toThrow(/new RunWorker\(\): option heartbeatMs must be less than leaseMs/);
  });

  it('a missing store or handlers', () => {
    const store = new MemoryJobStore();
    expect(() => new Queue(undefined as unknown as FullJobStore)).toThrow(
      /^new Queue\(\): store \(the first argument\) must be a JobStore with enqueue .*got undefined\.$/,
    );
    expect(() => new Worker(store, undefined as never)).toThrow(
      /^new Worker\(\): handlers \(the second argument\) must be an object of job handlers by job name.*got undefined\.$/,
    );
    expect(() => new Worker({} as FullJobStore, { x: () => 1 })).toThrow(
      /^new Worker\(\): store \(the first argument\) must be a JobStore/,
    );
    expect(() => new RunWorker(null as unknown as FullJobStore, {})).toThrow(
      /^new RunWorker\(\): store \(the first argument\) must be a JobStore/,
    );
  });

  it('addMany and dependsOn of the wrong type', async () => {
    const { queue } = setup();
    await expect(queue.addMany('x' as never)).rejects.toThrow(
      'queue.addMany(): items must be an array of { name, payload, options? }, got "x".',
    );
    await expect(queue.addMany([5] as never)).rejects.toThrow(
      'queue.addMany(): items[0] must be { name, payload, options? }, got 5.',
    );
    await expect(queue.add('j', 1, { dependsOn: 'x' as never })).rejects.toThrow(
      'queue.add(): option dependsOn must be an array of job ids or enqueue results ({ id }), got "x".',
    );
    await expect(queue.add('j', 1, 'x' as never)).rejects.toThrow(
      /^queue\.add\(\): options must be an object of job options/,
    );
    await expect(queue.add('j', () => 1)).rejects.toThrow(
      /^queue\.add\(\): payload is a function, which JSON drops\./,
    );
  });
});
