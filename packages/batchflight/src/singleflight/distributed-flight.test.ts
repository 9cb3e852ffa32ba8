// DistributedFlight on the in-process store: the engine's behaviour without a server (the
// Redis store runs the same engine in packages/redis, fleets and faults included).
import diagnosticsChannel from 'node:diagnostics_channel';
import { TestClock, deferred, flushMicrotasks } from '@batchflight/testing';
import { describe, expect, it } from 'vitest';
import { ClosedError, RemoteError } from '../core/index.js';
import {
  DistributedFlight,
  type DistributedSettledEvent,
  distributedFlightChannels,
} from './distributed-flight.js';
import type { FlightStore } from './flight-store.js';
import { MemoryFlightStore } from './memory-flight-store.js';

/** Resolves once `check()` holds (the engine's steps are promise turns). */
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++) await flushMicrotasks();
  expect(check()).toBe(true);
}

/** A store whose every call fails as `error`, and that says whether that is an outage. */
function failing(error: Error, outage: Error | undefined): FlightStore {
  const fail = () => Promise.reject(error);
  return {
    watch: fail,
    claim: fail,
    extend: fail,
    complete: fail,
    release: fail,
    unavailable: (e) => (e === error ? outage : undefined),
  };
}

describe('DistributedFlight on MemoryFlightStore', () => {
  it('two flights on one store: one execution, the waiter gets the value, stats say who did what', async () => {
    const store = new MemoryFlightStore();
    const a = new DistributedFlight({ store, name: 'a' });
    const b = new DistributedFlight({ store, name: 'b' });
    const gate = deferred<{ n: number }>();
    let runs = 0;
    const fn = () => {
      runs++;
      return gate.promise;
    };
    const first = Promise.all([a.run('k', fn), a.run('k', fn)]);
    await until(() => a.stats().led === 1);
    const second = b.run('k', fn);
    await until(() => b.stats().waiting === 1);
    gate.resolve({ n: 1 });
    expect(await first).toEqual([{ n: 1 }, { n: 1 }]);
    expect(await second).toEqual({ n: 1 });
    expect(runs).toBe(1);
    expect(a.stats()).toMatchObject({ calls: 2, participants: 1, led: 1, received: 0 });
    expect(b.stats()).toMatchObject({ calls: 1, participants: 1, led: 0, received: 1 });
    expect([a.name, b.name]).toEqual(['a', 'b']);
  });

  it("a leader's error reaches the waiter as a RemoteError with its name, message and code", async () => {
    const store = new MemoryFlightStore();
    const [a, b] = [new DistributedFlight({ store }), new DistributedFlight({ store })];
    const gate = deferred<never>();
    const leader = a.run('k', () => gate.promise);
    await until(() => a.stats().led === 1);
    const waiter = b.run('k', () => 'never runs');
    await until(() => b.stats().waiting === 1);
    const error = Object.assign(new TypeError('upstream said no'), { code: 'E_NO' });
    gate.reject(error);
    await expect(leader).rejects.toBe(error);
    const received: unknown = await waiter.catch((e: unknown) => e);
    expect(RemoteError.is(received)).toBe(true);
    expect(received).toMatchObject({
      name: 'TypeError',
      message: 'upstream said no',
      code: 'E_NO',
    });
  });

  it('a waiter takes over when the leader stops extending its lease (a dead process)', async () => {
    const clock = new TestClock();
    const store = new MemoryFlightStore({ clock });
    const lease = await store.claim('k', 1000); // a leader that dies at once
    expect(lease.kind).toBe('leader');
    const flight = new DistributedFlight({ store, clock, leaseMs: 1000 });
    const call = flight.run('k', () => 'taken over');
    await until(() => flight.stats().waiting === 1);
    await clock.advance(1005);
    expect(await call).toBe('taken over');
    expect(flight.stats()).toMatchObject({ led: 1, takeovers: 1 });
  });

  it("an outage the store reports runs the call locally ('local') or rejects with the store's error ('fail')", async () => {
    const outage = new Error('store unreachable');
    const store = failing(new Error('connection refused'), outage);
    const local = new DistributedFlight({ store });
    let runs = 0;
    expect(await Promise.all([1, 2].map(() => local.run('k', () => ++runs)))).toEqual([1, 1]);
    expect(local.stats().local).toBe(1);
    const strict = new DistributedFlight({ store, onUnavailable: 'fail' });
    await expect(strict.run('k', () => ++runs)).rejects.toBe(outage);
    expect(runs).toBe(1);
  });

  it('an error the store does not call an outage, and a ClosedError, reach the caller as they are', async () => {
    const reply = new Error('a server answered with an error');
    const flight = new DistributedFlight({ store: failing(reply, undefined) });
    await expect(flight.run('k', () => 1)).rejects.toBe(reply);
    const closed = new MemoryFlightStore();
    closed.close();
    const onClosed = new DistributedFlight({ store: closed });
    const error: unknown = await onClosed.run('k', () => 1).catch((e: unknown) => e);
    expect(ClosedError.is(error)).toBe(true);
    expect(onClosed.stats().local).toBe(0);
  });

  it('publishes every settled participant on its channel and on the name it had in @batchflight/redis', async () => {
    const flight = new DistributedFlight({ store: new MemoryFlightStore(), name: 'reports' });
    const seen: unknown[] = [];
    const legacy: unknown[] = [];
    const onSeen = (m: unknown) => seen.push(m);
    const onLegacy = (m: unknown) => legacy.push(m);
    expect(distributedFlightChannels.settled.name).toBe(
      'batchflight:singleflight:distributed-settled',
    );
    diagnosticsChannel.subscribe(distributedFlightChannels.settled.name, onSeen);
    diagnosticsChannel.subscribe('batchflight:redis:flight-settled', onLegacy);
    try {
      await flight.run('day', () => 'built');
    } finally {
      diagnosticsChannel.unsubscribe(distributedFlightChannels.settled.name, onSeen);
      diagnosticsChannel.unsubscribe('batchflight:redis:flight-settled', onLegacy);
    }
    const event: DistributedSettledEvent = {
      name: 'reports',
      key: 'day',
      role: 'leader',
      ok: true,
      fence: expect.any(Number) as number,
    };
    expect(seen).toEqual([event]);
    expect(legacy).toEqual([event]);
  });

  it('close() waits for calls already made, refuses new ones, and a forced close releases the lease', async () => {
    const store = new MemoryFlightStore();
    const flight = new DistributedFlight({ store });
    const gate = deferred<string>();
    const running = flight.run('k', () => gate.promise);
    await until(() => flight.stats().led === 1);
    let closed = false;
    const closing = flight.close().then(() => (closed = true));
    await expect(flight.run('other', () => 'x')).rejects.toBeInstanceOf(ClosedError);
    await flushMicrotasks();
    expect(closed).toBe(false);
    gate.resolve('done');
    expect(await running).toBe('done');
    await closing;
    expect(closed).toBe(true);

    const forced = new DistributedFlight({ store });
    // A caller that can leave, so the execution has a signal for the forced close to abort.
    const stuck = forced.run('stuck', () => new Promise<never>(() => undefined), {
      signal: new AbortController().signal,
    });
    await until(() => forced.stats().led === 1);
    await forced.close({ timeoutMs: 0 });
    await expect(stuck).rejects.toBeInstanceOf(ClosedError);
    // The aborted leader freed its lease: the key is free for the next claim at once.
    await flushMicrotasks();
    expect((await store.claim('stuck', 1000)).kind).toBe('leader');
    await forced[Symbol.asyncDispose]();
  });
});
