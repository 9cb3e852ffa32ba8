/**
 * Re-entry, per-call option checks, close() and long timers of SingleFlight
 * (issue 18 findings 6, 7, 22, 23; issue 11 item 3).
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import { TestClock, deferred, flushMicrotasks, outcome } from '@batchflight/testing';
import {
  ClosedError,
  InvalidOptionError,
  TimeoutError,
  stack,
  toContext,
  type CallContext,
} from '../core/index.js';
import {
  FlightReentryError,
  SingleFlight,
  singleFlightChannels,
  singleflight,
  type FlightCloseEvent,
  type FlightContext,
} from './index.js';
import { timeout } from '../timeout/index.js';

describe('re-entry after an await (issue 18 finding 6)', () => {
  it('refuses a layer handler that comes back into its own flight through ctx', async () => {
    const flights = new SingleFlight<number>();
    const layer = flights.layer<string, number>({ key: (k) => k });
    let handler: (input: string, ctx: CallContext) => Promise<number> = () => Promise.resolve(0);
    handler = stack(layer).wrap(async (input, ctx) => {
      await Promise.resolve();
      // The same key again, with the context the flight handed out: it would wait for itself.
      return input === 'k' ? handler('k', ctx) : 1;
    });
    const result = await outcome(handler('k', toContext()));
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error).toBeInstanceOf(FlightReentryError);
    expect(flights.stats().active).toBe(0);
  });

  it('refuses a cycle across two keys through ctx (a waits for b, b comes back to a)', async () => {
    const flights = new SingleFlight<string>();
    let handler: (input: string, ctx: CallContext) => Promise<string> = () => Promise.resolve('');
    handler = stack(flights.layer<string, string>({ key: (k) => k })).wrap(async (input, ctx) => {
      await Promise.resolve();
      if (input === 'a') return `a>${await handler('b', ctx)}`;
      return handler('a', ctx).catch((error: unknown) =>
        error instanceof FlightReentryError ? 'refused' : 'other',
      );
    });
    await expect(handler('a', toContext())).resolves.toBe('a>refused');
    // Unrelated nesting is no re-entry: a calls b, and a second, outside caller joins a.
    const outside = handler('a', toContext());
    const joined = handler('a', toContext());
    await expect(Promise.all([outside, joined])).resolves.toEqual(['a>refused', 'a>refused']);
  });

  it('gives a run() function its flight context, and refuses a call back into it through ctx', async () => {
    const flights = new SingleFlight<string>();
    const seen: FlightContext[] = [];
    const outer = flights.run(
      'k',
      async (ctx) => {
        seen.push(ctx);
        await Promise.resolve();
        return flights.run('k', () => 'inner', ctx);
      },
      { scope: 's' },
    );
    await expect(outer).rejects.toBeInstanceOf(FlightReentryError);
    expect(seen[0]).toMatchObject({ key: 'k', scope: 's' });
    expect(seen[0]?.signal).toBeInstanceOf(AbortSignal);
    // Passed on to another key, the context is plain options: that flight runs.
    const chained = flights.run('a', (ctx) => flights.run('b', () => 'b', ctx));
    await expect(chained).resolves.toBe('b');
  });

  it('refuses a run() that passes the flight its own execution signal', async () => {
    const flights = new SingleFlight<string>();
    const controller = new AbortController();
    const outer = flights.run(
      'k',
      async ({ signal }) => {
        await Promise.resolve();
        return flights.run('k', () => 'inner', { signal });
      },
      { signal: controller.signal },
    );
    await expect(outer).rejects.toBeInstanceOf(FlightReentryError);
  });

  it('with detectAsyncReentry, refuses the plain repro of the finding instead of deadlocking', async () => {
    const flights = new SingleFlight<number>({ detectAsyncReentry: true });
    const outer = flights.run('k', async () => {
      await Promise.resolve();
      return flights.run('k', () => 1);
    });
    await expect(outer).rejects.toBeInstanceOf(FlightReentryError);
    expect(flights.stats().active).toBe(0);
    // singleflight() functions that call each other in a cycle, with no ctx to pass on.
    const group = new SingleFlight({ detectAsyncReentry: true });
    const even: (n: number) => Promise<boolean> = singleflight(
      async (n: number): Promise<boolean> => {
        await Promise.resolve();
        return n === 0 ? true : odd(n - 1);
      },
      { flight: group, key: (n) => `even:${String(n)}` },
    );
    const odd: (n: number) => Promise<boolean> = singleflight(
      async (n: number): Promise<boolean> => {
        await Promise.resolve();
        return n === 0 ? false : even(n === 3 ? 4 : n - 1);
      },
      { flight: group, key: (n) => `odd:${String(n)}` },
    );
    // even(4) -> odd(3) -> even(4): a cycle.
    await expect(even(4)).rejects.toBeInstanceOf(FlightReentryError);
    // No cycle: concurrent callers of the same key still share.
    const shared = await Promise.all([even(2), even(2)]);
    expect(shared).toEqual([true, true]);
  });

  it('advises no await-based workaround in its message', () => {
    const error = new FlightReentryError('k', undefined);
    expect(error.message).not.toContain('call it after an await');
    expect(error.message).toContain('even after an await');
  });
});

describe('per-call options and arguments (issue 18 findings 22, 23)', () => {
  it('refuses unknown run() options with an InvalidOptionError naming them', async () => {
    const flights = new SingleFlight();
    const misspelt = { timeoutMS: 1 } as unknown as { timeoutMs: number };
    const result = await outcome(flights.run('k', () => 1, misspelt));
    expect(!result.ok && result.error).toBeInstanceOf(InvalidOptionError);
    expect(!result.ok && (result.error as InvalidOptionError).option).toBe('timeoutMS');
    expect(flights.stats().misses).toBe(0);
    // A CallContext is accepted as options.
    await expect(flights.run('k', () => 2, toContext({ scope: 's', urgent: true }))).resolves.toBe(
      2,
    );
  });

  it('passes only signal and scope of a layer context to the flight, not the rest of ctx', async () => {
    const flights = new SingleFlight<number>();
    const handler = stack(flights.layer<number, number>()).wrap((n: number, ctx: CallContext) =>
      Promise.resolve(n + (ctx.urgent === true ? 100 : 0)),
    );
    const ctx = { ...toContext({ scope: 't', urgent: true }), attempt: 2 } as CallContext;
    await expect(handler(1, ctx)).resolves.toBe(101);
  });

  it("keeps a context's getters (a timeout layer's scope and urgent) in the handler's ctx", async () => {
    const clock = new TestClock();
    const flights = new SingleFlight<string>();
    const seen: CallContext[] = [];
    const handler = stack(timeout({ ms: 1000, clock }), flights.layer<number, string>()).wrap(
      (n: number, ctx: CallContext) => {
        seen.push(ctx);
        return Promise.resolve(`${String(n)}:${String(ctx.scope)}:${String(ctx.urgent)}`);
      },
    );
    await expect(handler(1, toContext({ scope: 't', urgent: true }))).resolves.toBe('1:t:true');
    // A layer inside may spread the context again: the fields are its own now.
    expect({ ...seen[0] }).toMatchObject({ scope: 't', urgent: true });
  });

  it('names the argument of forget() that is not a string', () => {
    const flights = new SingleFlight();
    expect(() => flights.forget(123 as unknown as string)).toThrow(
      'SingleFlight#forget(): key must be a string, got 123.',
    );
    expect(() => flights.forget('k', 5 as unknown as string)).toThrow(
      'SingleFlight#forget(): scope must be a string or undefined, got 5.',
    );
  });
});

describe('timeouts of 2^31 ms and more (issue 18 finding 7)', () => {
  it('waits the whole timeoutMs instead of timing out at once', async () => {
    const clock = new TestClock();
    const flights = new SingleFlight<string>({ clock, timeoutMs: 2 ** 31 });
    const gate = deferred<string>();
    const call = outcome(flights.run('k', () => gate.promise));
    await clock.advance(2 ** 31 - 1);
    expect(flights.stats().active).toBe(1);
    await clock.advance(1);
    const result = await call;
    expect(!result.ok && result.error).toBeInstanceOf(TimeoutError);
  });
});

describe('name (issue 11 item 3)', () => {
  it('names the group in its error messages and exposes it', async () => {
    const clock = new TestClock();
    const flights = new SingleFlight<string>({ clock, name: 'users', timeoutMs: 5 });
    expect(flights.name).toBe('users');
    const call = outcome(flights.run('k', () => new Promise<string>(() => {})));
    await clock.advance(5);
    const result = await call;
    expect(!result.ok && (result.error as Error).message).toMatch(
      /^SingleFlight "users": waited 5 ms/,
    );
    expect(() => new SingleFlight({ name: 5 as unknown as string })).toThrow(InvalidOptionError);
  });
});

describe('close() (issue 11 item 3)', () => {
  it('refuses new calls, lets running flights finish, then resolves', async () => {
    const flights = new SingleFlight<string>({ name: 'users' });
    const gate = deferred<string>();
    const running = flights.run('k', () => gate.promise);
    let closed = false;
    const closing = flights.close().then(() => (closed = true));
    const late = await outcome(flights.run('other', () => 'x'));
    expect(!late.ok && late.error).toBeInstanceOf(ClosedError);
    expect(!late.ok && (late.error as Error).message).toContain('SingleFlight "users"');
    const joiner = await outcome(flights.run('k', () => 'x'));
    expect(!joiner.ok && joiner.error).toBeInstanceOf(ClosedError);
    await flushMicrotasks();
    expect(closed).toBe(false);
    gate.resolve('v');
    await expect(running).resolves.toBe('v');
    await closing;
    expect(closed).toBe(true);
    expect(flights.close()).toBe(flights.close());
  });

  it('is forced at timeoutMs: waiting callers reject with ClosedError, executions abort', async () => {
    const clock = new TestClock();
    const flights = new SingleFlight<string>({ clock });
    const events: FlightCloseEvent[] = [];
    const onClose = (event: unknown): void => {
      events.push(event as FlightCloseEvent);
    };
    diagnosticsChannel.subscribe(singleFlightChannels.close.name, onClose);
    const signals: AbortSignal[] = [];
    const leave = new AbortController();
    const abortable = outcome(
      flights.run(
        'a',
        ({ signal }) => {
          signals.push(signal);
          return new Promise<string>(() => {});
        },
        { signal: leave.signal },
      ),
    );
    const pinned = outcome(flights.run('b', () => new Promise<string>(() => {})));
    let closed = false;
    const closing = flights.close({ timeoutMs: 1_000 }).then(() => (closed = true));
    await clock.advance(999);
    expect(closed).toBe(false);
    await clock.advance(1);
    await closing;
    for (const result of [await abortable, await pinned]) {
      expect(!result.ok && result.error).toBeInstanceOf(ClosedError);
      expect(!result.ok && (result.error as ClosedError).cause).toBeInstanceOf(TimeoutError);
    }
    expect(signals[0]?.aborted).toBe(true);
    expect(flights.stats()).toMatchObject({ active: 0, errors: 2 });
    diagnosticsChannel.unsubscribe(singleFlightChannels.close.name, onClose);
    expect(events).toEqual([{ name: undefined, forced: true, abandoned: 2 }]);
  });

  it('is forced by its signal, even by a later close() call; asyncDispose closes', async () => {
    const flights = new SingleFlight<string>();
    const running = outcome(flights.run('k', () => new Promise<string>(() => {})));
    const graceful = flights.close();
    const controller = new AbortController();
    const forced = flights.close({ signal: controller.signal });
    expect(forced).toBe(graceful);
    const reason = new Error('shutdown');
    controller.abort(reason);
    await graceful;
    const result = await running;
    expect(!result.ok && (result.error as ClosedError).cause).toBe(reason);

    const disposed = new SingleFlight();
    await disposed[Symbol.asyncDispose]();
    await expect(disposed.run('k', () => 1)).rejects.toBeInstanceOf(ClosedError);
    await new SingleFlight().close({ signal: AbortSignal.abort() });
  });

  it('validates its options', async () => {
    const flights = new SingleFlight();
    await expect(flights.close({ timeoutMS: 5 } as never)).rejects.toBeInstanceOf(
      InvalidOptionError,
    );
    await expect(flights.close({ signal: 'x' } as never)).rejects.toThrow(
      'option signal must be an AbortSignal',
    );
    await expect(flights.close({ timeoutMs: -1 })).rejects.toBeInstanceOf(InvalidOptionError);
  });
});
