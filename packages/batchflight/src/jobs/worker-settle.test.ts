import { describe, expect, it } from 'vitest';

import { BatchContractError } from '../batch/index.js';
import { setup, tick, withMethods } from './__fixtures__/worker.js';
import { Worker, type JobContext, type JobOutcome, type WorkerErrorEvent } from './worker.js';

const fail = () => {
  throw new Error('handler failed');
};

/** A worker whose one batch handler resolves with `outcomes` for three jobs (payloads 0, 1, 2). */
async function batchOf3(outcomes: unknown) {
  const { store, queue, clock } = setup();
  const ids = (
    await queue.addMany(
      [0, 1, 2].map((n) => ({ name: 'bulk', payload: n, options: { backoff: 1_000 } })),
    )
  ).map((r) => r.id);
  const worker = new Worker(
    store,
    {
      bulk: {
        handleMany: (_jobs: readonly JobContext<number>[]) =>
          Promise.resolve(outcomes as readonly JobOutcome[]),
      },
    },
    { clock },
  );
  const errors: WorkerErrorEvent[] = [];
  const lost: string[] = [];
  worker.onError((e) => errors.push(e));
  worker.onLeaseLost((e) => lost.push(e.job.id));
  await worker.drain();
  const jobs = await Promise.all(ids.map((id) => store.get(id)));
  await worker.close();
  return { worker, jobs, errors, lost };
}

describe('Worker: settling results', () => {
  it('a job backoff that throws or yields no delay falls back to the worker backoff, reported; the job is failed, not left leased', async () => {
    const { store, queue, clock } = setup();
    const { id: throws } = await queue.add('throwing', null);
    const { id: nan } = await queue.add('nan', null);
    const worker = new Worker(
      store,
      {
        throwing: {
          handle: fail,
          backoff: () => {
            throw new Error('backoff broke');
          },
        },
        nan: { handle: fail, backoff: () => NaN },
      },
      { clock, backoff: 500 },
    );
    const errors: WorkerErrorEvent[] = [];
    worker.onError((e) => errors.push(e));
    await worker.drain();
    const now = clock.now();
    expect(await store.get(throws)).toMatchObject({ state: 'failed', runAt: now + 500 });
    expect(await store.get(nan)).toMatchObject({ state: 'failed', runAt: now + 500 });
    expect(errors.map((e) => e.during)).toEqual(['settle', 'settle']);
    expect(String(errors[1]?.error)).toMatch(
      /returned NaN for attempt 1; a retry delay must be a finite number/,
    );
    await worker.close();
  });

  it('a worker backoff that throws falls back to the built-in one (1 s first, full jitter)', async () => {
    const { store, queue, clock } = setup();
    const { id } = await queue.add('x', null);
    const worker = new Worker(
      store,
      { x: fail },
      {
        clock,
        backoff: () => {
          throw new Error('backoff broke');
        },
      },
    );
    const errors: string[] = [];
    worker.onError((e) => errors.push(e.during));
    await worker.drain();
    const job = await store.get(id);
    expect(job?.state).toBe('failed');
    expect((job?.runAt ?? Infinity) - clock.now()).toBeLessThanOrEqual(1_000);
    expect(errors).toEqual(['settle']);
    await worker.close();
  });

  it('a thrown value that cannot even be read is still recorded as a failure', async () => {
    const { store, queue, clock } = setup();
    const { id } = await queue.add('x', null);
    const unreadable = new Proxy(
      {},
      {
        get() {
          throw new Error('do not touch');
        },
      },
    );
    const worker = new Worker(
      store,
      {
        x: () => {
          // eslint-disable-next-line @typescript-eslint/only-throw-error -- the point of the test
          throw unreadable;
        },
      },
      { clock },
    );
    await worker.drain();
    expect(await store.get(id)).toMatchObject({
      state: 'failed',
      lastError: 'an error that could not be read (reading it threw)',
    });
    await worker.close();
  });

  it('handleMany with a malformed outcome fails only that job, with a BatchContractError naming index and value', async () => {
    const { jobs, worker, lost } = await batchOf3([
      { ok: true, result: 'a' },
      null,
      { ok: true, result: 'c' },
    ]);
    expect(jobs[0]).toMatchObject({ state: 'succeeded', result: 'a' });
    expect(jobs[1]).toMatchObject({ state: 'failed', attempts: 1 });
    expect(jobs[1]?.lastError).toMatch(
      /BatchContractError: handleMany\(\) of "bulk": outcome 1 must be \{ ok: true, result\? \} or \{ ok: false, error, retry\?: boolean \}, got null\./,
    );
    expect(jobs[2]).toMatchObject({ state: 'succeeded', result: 'c' });
    expect(worker.stats()).toMatchObject({ succeeded: 2, failed: 1, refused: 0, leaseLost: 0 });
    expect(lost).toEqual([]);
  });

  it('handleMany with too few outcomes fails only the jobs without one', async () => {
    const { jobs, worker } = await batchOf3([{ ok: true }, { ok: false, error: 'nope' }]);
    expect(jobs.map((j) => j?.state)).toEqual(['succeeded', 'failed', 'failed']);
    expect(jobs[1]?.lastError).toBe('nope');
    expect(jobs[2]?.lastError).toMatch(
      /resolved with 2 outcomes for 3 jobs; one outcome per job, in job order, is the contract: job 2 has no outcome\./,
    );
    expect(worker.stats()).toMatchObject({ succeeded: 1, failed: 2, refused: 0 });
  });

  it('handleMany with too many outcomes settles the jobs and reports the extra ones', async () => {
    const { jobs, errors } = await batchOf3([
      { ok: true },
      { ok: true },
      { ok: true },
      { ok: true },
    ]);
    expect(jobs.map((j) => j?.state)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.during).toBe('settle');
    expect(BatchContractError.is(errors[0]?.error)).toBe(true);
    expect(errors[0]?.error).toMatchObject({ keyCount: 3, resultLength: 4 });
  });

  it('handleMany resolving with something that is not an array fails every job of the batch once', async () => {
    const { jobs, worker } = await batchOf3({ ok: true });
    expect(jobs.map((j) => j?.state)).toEqual(['failed', 'failed', 'failed']);
    expect(jobs[0]?.lastError).toMatch(
      /must resolve with an array of one outcome per job.*got an object\./,
    );
    expect(worker.stats()).toMatchObject({ failed: 3, refused: 0, leaseLost: 0 });
  });

  it('a commit whose fail() call fails after complete() was accepted retries only the failures', async () => {
    const { store, queue, clock } = setup();
    const [ok, bad] = await queue.addMany([
      { name: 'bulk', payload: true },
      { name: 'bulk', payload: false, options: { backoff: 1_000 } },
    ]);
    let completes = 0;
    let fails = 0;
    const flaky = withMethods(store, {
      complete: (original, completions) => {
        completes++;
        return original(completions);
      },
      fail: (original, failures) =>
        fails++ === 0 ? Promise.reject(new Error('fail() lost')) : original(failures),
    });
    const worker = new Worker(
      flaky,
      {
        bulk: {
          handleMany: (jobs: readonly JobContext<boolean>[]) =>
            Promise.resolve(
              jobs.map((j): JobOutcome =>
                j.job.payload ? { ok: true } : { ok: false, error: 'no' },
              ),
            ),
        },
      },
      { clock, pollMs: 100 },
    );
    for (let i = 0; i < 3; i++) await tick();
    // The failed fail() is tried once more on its own at once (the accepted complete()
    // shows the store is up): it commits, and the completion is not sent again.
    expect([completes, fails]).toEqual([1, 2]);
    await clock.advance(100);
    await worker.drain();
    expect([completes, fails]).toEqual([1, 2]);
    expect(await store.get(ok?.id ?? '')).toMatchObject({ state: 'succeeded' });
    expect(await store.get(bad?.id ?? '')).toMatchObject({ state: 'failed', lastError: 'no' });
    expect(worker.stats()).toMatchObject({
      succeeded: 1,
      failed: 1,
      refused: 0,
      leaseLost: 0,
      flushCalls: 1,
    });
    await worker.close();
  });
});
