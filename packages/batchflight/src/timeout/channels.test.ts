/**
 * Every protection layer publishes on `batchflight:<capability>:<event>`
 * when someone subscribes (and builds no payload otherwise).
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';

import { TestClock } from '@batchflight/testing';
import { toContext } from '../core/index.js';
import { retry } from '../retry/index.js';
import { circuitBreaker, consecutive } from '../circuit-breaker/index.js';
import { bulkhead } from '../bulkhead/index.js';
import { fallback } from '../fallback/index.js';
import { hedge } from '../hedge/index.js';
import { timeout } from './index.js';

const subscriptions: [string, (message: unknown) => void][] = [];
function listen(name: string): unknown[] {
  const seen: unknown[] = [];
  const fn = (message: unknown): void => {
    seen.push(message);
  };
  diagnosticsChannel.subscribe(name, fn);
  subscriptions.push([name, fn]);
  return seen;
}
afterEach(() => {
  for (const [name, fn] of subscriptions.splice(0)) diagnosticsChannel.unsubscribe(name, fn);
});

const fail = (): Promise<never> => Promise.reject(new Error('down'));
const settle = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    (v) => v,
    (e: unknown) => e,
  );

describe('diagnostics channels', () => {
  it('retry publishes retry and give-up', async () => {
    const retries = listen('batchflight:retry:retry');
    const giveUps = listen('batchflight:retry:give-up');
    const clock = new TestClock();
    const outcome = settle(retry({ maxAttempts: 2, backoff: 5, clock }).wrap(fail)(1, toContext()));
    await clock.runAll();
    await outcome;
    expect(retries).toMatchObject([{ attempt: 1, delayMs: 5 }]);
    expect(giveUps).toMatchObject([{ attempts: 2, reason: 'max-attempts' }]);
  });

  it('circuit-breaker publishes failure, state-change and rejected', async () => {
    const failures = listen('batchflight:circuit-breaker:failure');
    const changes = listen('batchflight:circuit-breaker:state-change');
    const rejections = listen('batchflight:circuit-breaker:rejected');
    const call = circuitBreaker({ policy: consecutive(1), name: 'db' }).wrap(fail);
    await settle(call(1, toContext()));
    await settle(call(2, toContext()));
    expect(failures).toMatchObject([{ name: 'db', state: 'closed' }]);
    expect(changes).toMatchObject([{ name: 'db', from: 'closed', to: 'open' }]);
    expect(rejections).toMatchObject([{ name: 'db', state: 'open' }]);
  });

  it('timeout, bulkhead, fallback and hedge publish their events', async () => {
    const timeouts = listen('batchflight:timeout:timeout');
    const full = listen('batchflight:bulkhead:rejected');
    const fallbacks = listen('batchflight:fallback:fallback');
    const hedges = listen('batchflight:hedge:hedge');
    const clock = new TestClock();
    const never = (): Promise<never> => new Promise<never>(() => undefined);
    const timedOut = settle(timeout({ ms: 10, clock }).wrap(never)(1, toContext()));
    const pool = bulkhead({ maxConcurrent: 1 }).wrap(never);
    void pool(1, toContext());
    await settle(pool(2, toContext()));
    await fallback({ value: 0 }).wrap(fail)(1, toContext());
    const hedged = settle(hedge({ afterMs: 5, clock }).wrap(fail)(1, toContext()));
    await clock.advance(10);
    await Promise.all([timedOut, hedged]);
    expect(timeouts).toEqual([{ name: 'timeout', timeoutMs: 10 }]);
    expect(full).toEqual([{ name: 'bulkhead', active: 1, queued: 0 }]);
    expect(fallbacks).toHaveLength(1);
    expect(hedges).toEqual([{ name: 'hedge', attempt: 2, reason: 'failed' }]);
  });
});
