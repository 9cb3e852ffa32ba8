/**
 * Test scenarios run both against a single Redis and against a Redis
 * Cluster (`cluster.test.ts`): the same assertions, whatever the topology.
 */
import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import { deferred } from '@batchflight/testing';
import type { DistributedFlight } from 'batchflight/singleflight';
import { RemoteError } from 'batchflight';
import type { RedisRateLimitStore } from '../rate-limit-store.js';

// A promise and its resolve/reject, to hold a call until the test lets it go.
export { deferred };

/** Waits until `predicate` holds (pub/sub and Redis replies are asynchronous). */
export async function until(predicate: () => boolean): Promise<void> {
  for (let i = 0; i < 5000 && !predicate(); i++) await new Promise((r) => setTimeout(r, 1));
  expect(predicate()).toBe(true);
}

/** The lease key of flight `key` in a `RedisFlightStore` with `prefix` (to expire it early). */
export function flightLeaseKey(prefix: string, key: string): string {
  // The lease key carries the flight key as its hash tag (its SHA-1 when empty or with '}').
  const tag =
    key.length > 0 && !key.includes('}') ? key : createHash('sha1').update(key).digest('hex');
  return `${prefix}{f:${tag}}:lease`;
}

/** `a` leads a call that fails; `b` waits for it and gets the error, with its name, message and code. */
export async function leaderErrorReachesWaiter(
  a: DistributedFlight,
  b: DistributedFlight,
): Promise<void> {
  const gate = deferred<undefined>();
  const failing = async (): Promise<never> => {
    await gate.promise;
    throw Object.assign(new RangeError('upstream said no'), { code: 'E_UPSTREAM' });
  };
  const leader = a.run('err', failing);
  await until(() => a.stats().led === 1);
  const waiter = b.run('err', failing);
  await until(() => b.stats().waiting === 1);
  gate.resolve(undefined);
  await expect(leader).rejects.toBeInstanceOf(RangeError);
  const error = await waiter.catch((e: unknown) => e);
  expect(RemoteError.is(error)).toBe(true);
  expect(error).toMatchObject({
    name: 'RangeError',
    message: 'upstream said no',
    code: 'E_UPSTREAM',
    remote: true,
  });
}

/**
 * 200 concurrent acquisitions of two limits (bursts 30 and 50) spread over
 * `stores`: exactly 30 pass, and the refusals charged nothing on the
 * second limit (20 units are left there).
 */
export async function chargesSeveralLimitsAtomically(
  stores: readonly RedisRateLimitStore[],
): Promise<void> {
  const rules = [
    { key: 'multi-a', rate: 1, perMs: 60_000, burst: 30 },
    { key: 'multi-b', rate: 1, perMs: 60_000, burst: 50 },
  ];
  const decisions = await Promise.all(
    Array.from({ length: 200 }, (_, i) =>
      (stores[i % stores.length] as RedisRateLimitStore).acquire({ rules, cost: 1 }),
    ),
  );
  expect(decisions.filter((d) => d.allowed)).toHaveLength(30);
  const rest = await (stores[0] as RedisRateLimitStore).acquire({
    rules: [rules[1] as (typeof rules)[number]],
    cost: 0,
  });
  expect(rest.remaining).toBe(20);
  expect(stores.every((s) => s.stats().fallback === 0)).toBe(true);
}
