import { getEventListeners } from 'node:events';
import diagnosticsChannel from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
// Tests may use the testing package; the zero-dependency rule is about what the core ships.

import { TestClock, flushMicrotasks, deferred, outcome } from '@batchflight/testing';
import {
  InvalidOptionError,
  NEVER_ABORTED,
  TimeoutError,
  stack,
  toContext,
  type Handler,
} from '../core/index.js';
import {
  FlightReentryError,
  SingleFlight,
  singleflight,
  type FlightSettledEvent,
  type FlightSharedEvent,
} from './index.js';

const abortListeners = (signal: AbortSignal): number => getEventListeners(signal, 'abort').length;

describe('SingleFlight.run', () => {
  it('shares one execution and its value among concurrent callers', async () => {
    const flights = new SingleFlight<string>();
    const gate = deferred<string>();
    let executions = 0;
    const fn = (): Promise<string> => {
      executions++;
      return gate.promise;
    };
    const calls = [flights.run('k', fn), flights.run('k', fn), flights.run('k', fn)];
    expect(flights.stats()).toMatchObject({ hits: 2, misses: 1, active: 1 });
    gate.resolve('v');
    await expect(Promise.all(calls)).resolves.toEqual(['v', 'v', 'v']);
    expect(executions).toBe(1);
    expect(flights.stats()).toEqual({ hits: 2, misses: 1, errors: 0, active: 0, hitRate: 2 / 3 });
  });

  it('gives every waiter the same error object', async () => {
    const flights = new SingleFlight();
    const gate = deferred<never>();
    const calls = [1, 2, 3].map(() => outcome(flights.run('k', () => gate.promise)));
    const error = new Error('boom');
    gate.reject(error);
    for (const result of await Promise.all(calls)) expect(result).toEqual({ ok: false, error });
    expect((await Promise.all(calls)).every((r) => !r.ok && r.error === error)).toBe(true);
    expect(flights.stats().errors).toBe(1);
  });

  it('turns a synchronous throw into a rejection shared like any other', async () => {
    const flights = new SingleFlight();
    const error = new Error('sync');
    const first = flights.run('k', () => {
      throw error;
    });
    await expect(first).rejects.toBe(error);
    // Nothing stays behind: the next call runs again.
    await expect(flights.run('k', () => 'again')).resolves.toBe('again');
    expect(flights.stats()).toMatchObject({ misses: 2, errors: 1, active: 0 });
  });

  it('accepts a synchronous value', async () => {
    const flights = new SingleFlight<number>();
    await expect(flights.run('k', () => 42)).resolves.toBe(42);
  });

  it('caches nothing after the flight settles', async () => {
    const flights = new SingleFlight<number>();
    let n = 0;
    expect(await flights.run('k', () => ++n)).toBe(1);
    expect(await flights.run('k', () => ++n)).toBe(2);
  });

  it('never shares across scopes, and shares within one', async () => {
    const flights = new SingleFlight<string>();
    const seen: string[] = [];
    const fn = (scope: string) => async (): Promise<string> => {
      seen.push(scope);
      await Promise.resolve();
      return scope;
    };
    const results = await Promise.all([
      flights.run('k', fn('a'), { scope: 'a' }),
      flights.run('k', fn('b'), { scope: 'b' }),
      flights.run('k', fn('none')),
      flights.run('k', fn('a2'), { scope: 'a' }),
    ]);
    expect(results).toEqual(['a', 'b', 'none', 'a']);
    expect(seen).toEqual(['a', 'b', 'none']);
  });

  it('tells whether a value was shared', async () => {
    const flights = new SingleFlight<string>();
    const gate = deferred<string>();
    const a = flights.runShared('k', () => gate.promise);
    const b = flights.runShared('k', () => gate.promise);
    gate.resolve('v');
    expect(await a).toEqual({ value: 'v', shared: true });
    expect(await b).toEqual({ value: 'v', shared: true });
    expect(await flights.runShared('k', () => 'alone')).toEqual({ value: 'alone', shared: false });
  });

  it('rejects a key that is not a string', async () => {
    const flights = new SingleFlight();
    await expect(flights.run(1 as unknown as string, () => 1)).rejects.toThrow(
      'SingleFlight#run(): key must be a string, got 1.',
    );
  });

  it('rejects an fn that is not a function, and resets its counters on demand', async () => {
    const flights = new SingleFlight();
    await expect(flights.run('k', 'nope' as never)).rejects.toThrow(
      'SingleFlight#run(): fn must be a function, got "nope".',
    );
    await flights.run('k', () => 1);
    expect(flights.stats().misses).toBe(1);
    flights.resetStats();
    expect(flights.stats()).toEqual({ hits: 0, misses: 0, errors: 0, active: 0, hitRate: 0 });
  });

  it('tells whether a value was shared within a scope', async () => {
    const flights = new SingleFlight<string>();
    const gate = deferred<string>();
    const a = flights.runShared('k', () => gate.promise, { scope: 't1' });
    const b = flights.runShared('k', () => gate.promise, { scope: 't2' });
    gate.resolve('v');
    expect(await Promise.all([a, b])).toEqual([
      { value: 'v', shared: false },
      { value: 'v', shared: false },
    ]);
  });

  it('refuses a synchronous re-entry of the same key instead of waiting for itself', async () => {
    const flights = new SingleFlight();
    let inner: Promise<unknown> | undefined;
    const outer = flights.run('k', () => {
      inner = flights.run('k', () => 'inner');
      return 'outer';
    });
    await expect(outer).resolves.toBe('outer');
    await expect(inner).rejects.toBeInstanceOf(FlightReentryError);
    await expect(inner).rejects.toMatchObject({ code: 'ERR_BATCHFLIGHT_FLIGHT_REENTRY', key: 'k' });
  });
});

describe('forget', () => {
  it('lets a new flight start, and the old leader never deletes it (golang/go#31420)', async () => {
    const flights = new SingleFlight<string>();
    const first = deferred<string>();
    const second = deferred<string>();
    const third = deferred<string>();
    let executions = 0;
    const a = flights.run('k', () => (executions++, first.promise));
    expect(flights.forget('k')).toBe(true);
    expect(flights.forget('k')).toBe(false);
    const b = flights.run('k', () => (executions++, second.promise));
    first.resolve('old');
    await expect(a).resolves.toBe('old');
    // The old flight settled: the new one must still be there to join.
    const c = flights.run('k', () => (executions++, third.promise));
    second.resolve('new');
    await expect(b).resolves.toBe('new');
    await expect(c).resolves.toBe('new');
    expect(executions).toBe(2);
  });

  it('lets the callers of a forgotten flight leave without touching its successor', async () => {
    const flights = new SingleFlight<string>();
    const controller = new AbortController();
    const signals: AbortSignal[] = [];
    const old = outcome(
      flights.run(
        'k',
        ({ signal }) => {
          signals.push(signal);
          return new Promise<string>(() => {});
        },
        { signal: controller.signal, scope: 's' },
      ),
    );
    flights.forget('k', 's');
    const gate = deferred<string>();
    const next = flights.run('k', () => gate.promise, { scope: 's' });
    controller.abort(new Error('gone'));
    expect((await old).ok).toBe(false);
    expect(signals[0]?.aborted).toBe(true);
    let ran = false;
    const joined = flights.run('k', () => ((ran = true), 'other'), { scope: 's' });
    expect(ran).toBe(false);
    gate.resolve('successor');
    expect(await Promise.all([next, joined])).toEqual(['successor', 'successor']);
  });

  it('forgets per scope and all at once', async () => {
    const flights = new SingleFlight<string>();
    const gate = deferred<string>();
    const a = flights.run('k', () => gate.promise, { scope: 's' });
    expect(flights.forget('k')).toBe(false);
    expect(flights.forget('k', 'other')).toBe(false);
    expect(flights.forget('k', 's')).toBe(true);
    const b = flights.run('k', () => gate.promise);
    const c = flights.run('j', () => gate.promise, { scope: 't' });
    flights.forgetAll();
    let ran = false;
    const d = flights.run('k', () => ((ran = true), 'fresh'));
    expect(ran).toBe(true);
    gate.resolve('gate');
    expect(await Promise.all([a, b, c, d])).toEqual(['gate', 'gate', 'gate', 'fresh']);
  });
});

describe('cancellation', () => {
  it('lets an aborted caller reject alone with signal.reason while the others get the value', async () => {
    const flights = new SingleFlight<string>();
    const gate = deferred<string>();
    let executionSignal: AbortSignal | undefined;
    const controller = new AbortController();
    const leaving = outcome(
      flights.run(
        'k',
        ({ signal }) => {
          executionSignal = signal;
          return gate.promise;
        },
        { signal: controller.signal },
      ),
    );
    const staying = flights.run('k', () => gate.promise);
    const reason = new Error('client went away');
    controller.abort(reason);
    expect(await leaving).toEqual({ ok: false, error: reason });
    expect(executionSignal?.aborted).toBe(false);
    gate.resolve('v');
    await expect(staying).resolves.toBe('v');
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it('aborts the execution only when the last waiter has left', async () => {
    const flights = new SingleFlight<string>();
    let executionSignal: AbortSignal = NEVER_ABORTED;
    const controllers = [new AbortController(), new AbortController(), new AbortController()];
    const calls = controllers.map((c) =>
      outcome(
        flights.run(
          'k',
          ({ signal }) => {
            executionSignal = signal;
            return new Promise<string>(() => {});
          },
          { signal: c.signal },
        ),
      ),
    );
    controllers[0]!.abort(new Error('0'));
    controllers[1]!.abort(new Error('1'));
    await flushMicrotasks();
    expect(executionSignal.aborted).toBe(false);
    const last = new Error('2');
    controllers[2]!.abort(last);
    expect(executionSignal.aborted).toBe(true);
    expect(executionSignal.reason).toBe(last);
    const results = await Promise.all(calls);
    expect(results.map((r) => (r.ok ? r.value : (r.error as Error).message))).toEqual([
      '0',
      '1',
      '2',
    ]);
    for (const c of controllers) expect(abortListeners(c.signal)).toBe(0);
  });

  it('starts a fresh flight for a caller that arrives after the flight was aborted', async () => {
    const flights = new SingleFlight<string>();
    const controller = new AbortController();
    const signals: AbortSignal[] = [];
    const first = outcome(
      flights.run(
        'k',
        ({ signal }) => {
          signals.push(signal);
          return new Promise<string>((_, reject) => {
            // Settles late, after a newcomer started: it must not touch the newcomer's flight.
            signal.addEventListener('abort', () => {
              setImmediate(() => {
                reject(signal.reason as Error);
              });
            });
          });
        },
        { signal: controller.signal },
      ),
    );
    controller.abort(new Error('gone'));
    const second = flights.run('k', ({ signal }) => {
      signals.push(signal);
      return 'fresh';
    });
    await expect(second).resolves.toBe('fresh');
    expect(signals).toHaveLength(2);
    expect(signals[0]?.aborted).toBe(true);
    expect(signals[1]?.aborted).toBe(false);
    expect((await first).ok).toBe(false);
    expect(flights.stats()).toMatchObject({ misses: 2, hits: 0 });
  });

  it('never aborts an execution that a caller without a signal still waits for', async () => {
    const flights = new SingleFlight<string>();
    const gate = deferred<string>();
    let executionSignal: AbortSignal = NEVER_ABORTED;
    const controller = new AbortController();
    const leaving = outcome(
      flights.run(
        'k',
        ({ signal }) => {
          executionSignal = signal;
          return gate.promise;
        },
        { signal: controller.signal },
      ),
    );
    const pinned = flights.run('k', () => gate.promise);
    controller.abort();
    await leaving;
    expect(executionSignal.aborted).toBe(false);
    gate.resolve('kept');
    await expect(pinned).resolves.toBe('kept');
  });

  it('rejects at once with the reason of an already aborted signal and starts nothing', async () => {
    const flights = new SingleFlight();
    const reason = new Error('already');
    let ran = false;
    await expect(
      flights.run('k', () => (ran = true), { signal: AbortSignal.abort(reason) }),
    ).rejects.toBe(reason);
    expect(ran).toBe(false);
    expect(flights.stats()).toMatchObject({ hits: 0, misses: 0 });
  });

  it('removes its abort listener when the flight settles', async () => {
    const flights = new SingleFlight<number>();
    const controller = new AbortController();
    const call = flights.run('k', () => Promise.resolve(1), { signal: controller.signal });
    expect(abortListeners(controller.signal)).toBe(1);
    await call;
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it('treats NEVER_ABORTED like no signal', async () => {
    const flights = new SingleFlight<number>();
    let signal: AbortSignal | undefined;
    await flights.run(
      'k',
      ({ signal: s }) => {
        signal = s;
        return 1;
      },
      { signal: NEVER_ABORTED },
    );
    expect(signal).toBe(NEVER_ABORTED);
  });
});

describe('timeouts', () => {
  it('lets a waiter time out alone with a TimeoutError', async () => {
    const clock = new TestClock();
    const flights = new SingleFlight<string>({ clock });
    const gate = deferred<string>();
    let executionSignal: AbortSignal = NEVER_ABORTED;
    const impatient = outcome(
      flights.run(
        'k',
        ({ signal }) => {
          executionSignal = signal;
          return gate.promise;
        },
        { timeoutMs: 100 },
      ),
    );
    const patient = flights.run('k', () => gate.promise);
    await clock.advance(100);
    const result = await impatient;
    expect(result.ok).toBe(false);
    expect(TimeoutError.is(!result.ok && result.error)).toBe(true);
    expect(!result.ok && (result.error as TimeoutError).timeoutMs).toBe(100);
    expect(executionSignal.aborted).toBe(false);
    gate.resolve('late');
    await expect(patient).resolves.toBe('late');
    expect(clock.pendingTimers).toBe(0);
  });

  it('aborts the execution when the last waiter times out (default timeoutMs)', async () => {
    const clock = new TestClock();
    const flights = new SingleFlight<string>({ clock, timeoutMs: 50 });
    let executionSignal: AbortSignal = NEVER_ABORTED;
    const call = outcome(
      flights.run('k', ({ signal }) => {
        executionSignal = signal;
        return new Promise<string>(() => {});
      }),
    );
    await clock.advance(49);
    expect(executionSignal.aborted).toBe(false);
    await clock.advance(1);
    expect(executionSignal.aborted).toBe(true);
    expect(TimeoutError.is(executionSignal.reason)).toBe(true);
    expect((await call).ok).toBe(false);
  });

  it('fails the whole flight with one TimeoutError after flightTimeoutMs and frees the key', async () => {
    const clock = new TestClock();
    const flights = new SingleFlight<string>({ clock, flightTimeoutMs: 200 });
    let executionSignal: AbortSignal = NEVER_ABORTED;
    const calls = [1, 2].map(() =>
      outcome(
        flights.run('k', ({ signal }) => {
          executionSignal = signal;
          return new Promise<string>(() => {}); // ignores its signal: the deadline still holds
        }),
      ),
    );
    await clock.advance(200);
    const [a, b] = await Promise.all(calls);
    expect(a?.ok).toBe(false);
    expect(!a!.ok && TimeoutError.is(a!.error)).toBe(true);
    expect(!a!.ok && !b!.ok && a!.error === b!.error).toBe(true);
    expect(executionSignal.aborted).toBe(true);
    expect(executionSignal.reason).toBe(!a!.ok && a!.error);
    expect(flights.stats()).toMatchObject({ errors: 1, active: 0 });
    await expect(flights.run('k', () => 'next')).resolves.toBe('next');
    expect(clock.pendingTimers).toBe(0);
  });

  it('cancels the flight deadline when the flight settles in time', async () => {
    const clock = new TestClock();
    const flights = new SingleFlight<string>({ clock, flightTimeoutMs: 200 });
    await expect(flights.run('k', () => Promise.resolve('fast'))).resolves.toBe('fast');
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('hooks and diagnostics channels', () => {
  it('reports shared callers and settled flights', async () => {
    const clock = new TestClock();
    const flights = new SingleFlight<string>({ clock, name: 'users' });
    const shared: FlightSharedEvent[] = [];
    const settled: FlightSettledEvent[] = [];
    const s1 = flights.onShared((e) => shared.push(e));
    const s2 = flights.onSettled((e) => settled.push(e));
    const gate = deferred<string>();
    const calls = [flights.run('k', () => gate.promise), flights.run('k', () => gate.promise)];
    await clock.advance(30);
    gate.resolve('v');
    await Promise.all(calls);
    expect(shared).toEqual([{ name: 'users', key: 'k', scope: undefined, callers: 2 }]);
    expect(settled).toEqual([
      {
        name: 'users',
        key: 'k',
        scope: undefined,
        callers: 2,
        ok: true,
        error: undefined,
        durationMs: 30,
      },
    ]);
    s1.dispose();
    s2.dispose();
    await flights.run('k', () => 'quiet');
    expect(settled).toHaveLength(1);
  });

  it('publishes on batchflight:singleflight:<event> channels', async () => {
    const events: string[] = [];
    const names = ['start', 'shared', 'leave', 'abort', 'settled'];
    const subscribers = names.map((event) => {
      const fn = (message: unknown): void => {
        events.push(`${event}:${(message as { key: string }).key}`);
      };
      diagnosticsChannel.subscribe(`batchflight:singleflight:${event}`, fn);
      return { event, fn };
    });
    try {
      const flights = new SingleFlight();
      const controller = new AbortController();
      const call = outcome(
        flights.run('x', () => new Promise(() => {}), { signal: controller.signal }),
      );
      controller.abort();
      await call;
      await Promise.all([flights.run('y', () => 1), flights.run('y', () => 1)]);
    } finally {
      for (const { event, fn } of subscribers) {
        diagnosticsChannel.unsubscribe(`batchflight:singleflight:${event}`, fn);
      }
    }
    expect(events).toEqual(['start:x', 'leave:x', 'abort:x', 'start:y', 'shared:y', 'settled:y']);
  });
});

describe('options', () => {
  it('validates at construction with messages that echo the value', () => {
    expect(() => new SingleFlight({ timeoutMs: 0 })).toThrow(
      'new SingleFlight(): option timeoutMs must be a number > 0, got 0.',
    );
    expect(() => new SingleFlight({ flightTimeoutMs: -1 })).toThrow(InvalidOptionError);
    expect(() => new SingleFlight({ clock: {} as never })).toThrow(
      'new SingleFlight(): option clock must be a Clock (an object with now() and setTimer()), got an object.',
    );
    expect(() => new SingleFlight({ timeout: 5 } as never)).toThrow(
      'new SingleFlight(): unknown option "timeout"',
    );
    expect(() => new SingleFlight({ name: 3 as never })).toThrow(InvalidOptionError);
    expect(() => new SingleFlight({ timeoutMs: Infinity })).not.toThrow();
  });

  it('validates per-call options', async () => {
    const flights = new SingleFlight();
    await expect(flights.run('k', () => 1, { timeoutMs: -5 })).rejects.toThrow(
      'SingleFlight#run(): option timeoutMs must be a number > 0, got -5.',
    );
    await expect(flights.run('k', () => 1, { scope: 3 as never })).rejects.toThrow(
      'SingleFlight#run(): scope must be a string, got 3.',
    );
    await expect(flights.run('k', () => 1, { signal: {} as never })).rejects.toThrow(
      'SingleFlight#run(): signal must be an AbortSignal, got an object.',
    );
  });
});

describe('singleflight()', () => {
  it('keeps the signature and coalesces by argument values', async () => {
    let executions = 0;
    const load = async (id: number, opts: { full: boolean }): Promise<string> => {
      executions++;
      await Promise.resolve();
      return `${id}:${opts.full}`;
    };
    const coalesced = singleflight(load);
    const typed: (id: number, opts: { full: boolean }) => Promise<string> = coalesced;
    const results = await Promise.all([
      typed(1, { full: true }),
      typed(1, { full: true }),
      typed(1, { full: false }),
      typed(2, { full: true }),
    ]);
    expect(results).toEqual(['1:true', '1:true', '1:false', '2:true']);
    expect(executions).toBe(3);
    expect(coalesced.flight.stats()).toMatchObject({ hits: 1, misses: 3 });
    expect(coalesced.name).toBe('load');
  });

  it('tells 1 from "1" and ignores object key order', async () => {
    let executions = 0;
    const echo = singleflight(async (value: unknown) => {
      executions++;
      await Promise.resolve();
      return value;
    });
    await Promise.all([echo(1), echo('1'), echo({ a: 1, b: 2 }), echo({ b: 2, a: 1 })]);
    expect(executions).toBe(3);
  });

  it('keeps one-number keys as numbers internally, yet reports and forgets them as n<number>', async () => {
    const gates = [deferred<string>(), deferred<string>()];
    let executions = 0;
    const f = singleflight((_id: number) => gates[executions++]!.promise);
    const shared: FlightSharedEvent[] = [];
    f.flight.onShared((e) => shared.push(e));
    const a = f(1);
    const b = f(1);
    expect(shared.map((e) => e.key)).toEqual(['n1']);
    expect(f.flight.forget('n1')).toBe(true);
    const c = f(1);
    gates[0]!.resolve('first');
    gates[1]!.resolve('second');
    expect(await Promise.all([a, b, c])).toEqual(['first', 'first', 'second']);
    expect(executions).toBe(2);
  });

  it('gives f("a,sb", "c") and f("a", "b,sc") their own flights', async () => {
    let executions = 0;
    const f = singleflight(async (a: string, b: string) => {
      executions++;
      await Promise.resolve();
      return a + b;
    });
    await Promise.all([f('a,sb', 'c'), f('a', 'b,sc')]);
    expect(executions).toBe(2);
  });

  it('rejects (never throws) when an argument has no stable key, naming it', async () => {
    const f = singleflight(async (_a: number, _cb: () => void) => 1);
    await expect(f(1, () => {})).rejects.toThrow('argument 1 is a function');
  });

  it('uses a custom key and a scope function', async () => {
    const seen: string[] = [];
    const f = singleflight(
      async (tenant: string, id: number) => {
        seen.push(`${tenant}/${id}`);
        await Promise.resolve();
        return id;
      },
      { key: (_tenant, id) => String(id), scope: (tenant) => tenant },
    );
    await Promise.all([f('a', 1), f('a', 1), f('b', 1)]);
    expect(seen).toEqual(['a/1', 'b/1']);
  });

  it('passes this through and turns a synchronous throw into a rejection', async () => {
    const error = new Error('sync');
    const object = {
      base: 10,
      add: singleflight(function (this: { base: number }, n: number) {
        return this.base + n;
      }),
      fail: singleflight((): number => {
        throw error;
      }),
    };
    await expect(object.add(5)).resolves.toBe(15);
    await expect(object.fail()).rejects.toBe(error);
  });

  it('can share a group, and validates its options', () => {
    const group = new SingleFlight();
    expect(singleflight(async () => 1, { flight: group }).flight).toBe(group);
    expect(() => singleflight(async () => 1, { flight: group, timeoutMs: 5 })).toThrow(
      InvalidOptionError,
    );
    expect(() => singleflight('nope' as never)).toThrow(
      'singleflight(): option fn must be a function, got "nope".',
    );
    expect(() => singleflight(async () => 1, { key: 3 as never })).toThrow(InvalidOptionError);
    expect(() => singleflight(async () => 1, { keys: 3 } as never)).toThrow(
      'unknown option "keys"',
    );
  });
});

describe('SingleFlight#layer', () => {
  it('coalesces a handler inside stack(), per scope, with the execution signal', async () => {
    const flights = new SingleFlight();
    let executions = 0;
    const signals: AbortSignal[] = [];
    const handler: Handler<{ id: number }, string> = async (input, ctx) => {
      executions++;
      signals.push(ctx.signal);
      await Promise.resolve();
      return `${ctx.scope ?? '-'}:${input.id}`;
    };
    const h = stack(flights.layer<{ id: number }, string>()).wrap(handler);
    const controller = new AbortController();
    const results = await Promise.all([
      h({ id: 1 }, toContext({ scope: 't1' })),
      h({ id: 1 }, toContext({ scope: 't1', signal: controller.signal })),
      h({ id: 1 }, toContext({ scope: 't2' })),
      h({ id: 1 }, toContext()),
    ]);
    expect(results).toEqual(['t1:1', 't1:1', 't2:1', '-:1']);
    expect(executions).toBe(3);
    expect(signals.every((s) => !s.aborted)).toBe(true);
  });

  it('rejects when the key of an input cannot be built', async () => {
    const flights = new SingleFlight();
    const h = flights.layer<unknown, string>().wrap(async () => 'x');
    await expect(h({ cb: () => 1 }, toContext())).rejects.toThrow('input.cb is a function');
  });

  it('lets a caller leave through ctx.signal and aborts the handler when all left', async () => {
    const flights = new SingleFlight();
    let seen: AbortSignal = NEVER_ABORTED;
    const h = flights.layer<string, string>({ key: (s) => s }).wrap((_input, ctx) => {
      seen = ctx.signal;
      return new Promise<string>(() => {});
    });
    const controller = new AbortController();
    const call = h('k', toContext({ signal: controller.signal }));
    const reason = new Error('bye');
    controller.abort(reason);
    await expect(call).rejects.toBe(reason);
    expect(seen.aborted).toBe(true);
  });
});
