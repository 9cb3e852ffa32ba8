import { describe, expect, it } from 'vitest';
import {
  ABORT_REASON,
  BatchflightError,
  DeadlineList,
  abortReasonOf,
  callOptions,
  closeOptions,
  exponentialBackoff,
  forceCloseWhen,
  isFailFast,
  nameOption,
  refuseIfAborted,
  type LazySignalContext,
  ClosedError,
  InvalidOptionError,
  Listeners,
  NEVER_ABORTED,
  TimeoutError,
  argumentsKey,
  integerOption,
  knownOptions,
  sleep,
  stableKey,
  stack,
  toContext,
  type Handler,
  type Layer,
} from './index.js';
import { TestClock } from '@batchflight/testing';

describe('stack', () => {
  const tag = (name: string, log: string[]): Layer<string, string> => ({
    wrap: (next) => async (input, ctx) => {
      log.push(`>${name}`);
      const out = await next(`${input}${name}`, ctx);
      log.push(`<${name}`);
      return out;
    },
  });

  it('lets the first layer see the call first and the result last', async () => {
    const log: string[] = [];
    const handler: Handler<string, string> = async (input) => {
      log.push(`handler:${input}`);
      return input;
    };
    const wrapped = stack(tag('a', log), tag('b', log), tag('c', log)).wrap(handler);
    await expect(wrapped('', toContext())).resolves.toBe('abc');
    expect(log).toEqual(['>a', '>b', '>c', 'handler:abc', '<c', '<b', '<a']);
  });

  it('rejects something that is not a layer with a message naming its position', () => {
    expect(() => stack({} as Layer<unknown, unknown>)).toThrow(
      'stack(): argument 0 must be a Layer (an object with a wrap(handler) method), got an object.',
    );
  });
});

describe('toContext', () => {
  it('gives a shared never-aborting signal when no options are given', () => {
    expect(toContext().signal).toBe(NEVER_ABORTED);
    expect(toContext({ scope: 't1' })).toEqual({
      signal: NEVER_ABORTED,
      scope: 't1',
      urgent: undefined,
    });
  });
  it('keeps the caller signal', () => {
    const controller = new AbortController();
    expect(toContext({ signal: controller.signal }).signal).toBe(controller.signal);
  });
});

describe('errors', () => {
  it('carry a stable code, an explicit name and a cause', () => {
    const cause = new Error('root');
    const error = new TimeoutError('took too long', 50, { cause });
    expect(error.code).toBe('ERR_BATCHFLIGHT_TIMEOUT');
    expect(error.name).toBe('TimeoutError');
    expect(error.cause).toBe(cause);
    expect(error.timeoutMs).toBe(50);
  });

  it('are recognised by brand and code, not by instanceof', () => {
    const error = new ClosedError('closed');
    expect(ClosedError.is(error)).toBe(true);
    expect(BatchflightError.is(error)).toBe(true);
    expect(TimeoutError.is(error)).toBe(false);
    // A structurally identical error from another installed copy is still recognised.
    const foreign = Object.assign(new Error('x'), { code: 'ERR_BATCHFLIGHT_CLOSED' });
    Object.defineProperty(foreign, Symbol.for('batchflight.error'), { value: true });
    expect(ClosedError.is(foreign)).toBe(true);
    expect(ClosedError.is(new Error('plain'))).toBe(false);
    expect(ClosedError.is(null)).toBe(false);
  });
});

describe('validation', () => {
  it('echoes the option, the contract and the value', () => {
    expect(() => integerOption('batch()', 'maxSize', 0)).toThrow(
      'batch(): option maxSize must be an integer >= 1, got 0.',
    );
    expect(() => integerOption('batch()', 'maxSize', 'ten')).toThrow(InvalidOptionError);
    expect(integerOption('x', 'y', Infinity, { allowInfinity: true })).toBe(Infinity);
  });
  it('catches misspelt options', () => {
    expect(() => {
      knownOptions('batch()', { maxsize: 3 }, ['maxSize']);
    }).toThrow('batch(): unknown option "maxsize"; known options are maxSize.');
  });
});

describe('sleep', () => {
  it('waits on the injected clock', async () => {
    const clock = new TestClock();
    let done = false;
    const waiting = sleep(100, { clock }).then(() => (done = true));
    await clock.advance(99);
    expect(done).toBe(false);
    await clock.advance(1);
    await waiting;
    expect(done).toBe(true);
  });
  it('rejects with the signal reason and cancels its timer', async () => {
    const clock = new TestClock();
    const controller = new AbortController();
    const waiting = sleep(100, { clock, signal: controller.signal });
    const reason = new Error('stop');
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    await clock.advance(0);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('Listeners', () => {
  it('delivers events until disposed and survives a throwing listener', async () => {
    const listeners = new Listeners<number>();
    const seen: number[] = [];
    listeners.add(() => {
      throw new Error('listener bug');
    });
    const subscription = listeners.add((n) => seen.push(n));
    const warnings: unknown[] = [];
    const onWarning = (w: unknown): number => warnings.push(w);
    process.on('warning', onWarning);
    listeners.emit(1);
    subscription.dispose();
    subscription.dispose();
    listeners.emit(2);
    // Warnings are emitted on a later tick.
    await new Promise((resolve) => setImmediate(resolve));
    process.off('warning', onWarning);
    expect(seen).toEqual([1]);
    // The throwing listener is still subscribed, so both emits reported it.
    expect(warnings).toHaveLength(2);
  });
});

describe('stableKey', () => {
  it('never lets values of different types collide', () => {
    const values: unknown[] = [
      1,
      '1',
      1n,
      true,
      'true',
      null,
      'null',
      undefined,
      'u',
      [1],
      ['1'],
      { a: 1 },
      { a: '1' },
      { a: undefined },
      {},
      new Date(0),
      0,
      new Map([[1, 2]]),
      new Set([1, 2]),
      [1, 2],
      new Uint8Array([1]),
      new Int8Array([1]),
      /a/g,
      new URL('https://example.org/'),
      's"a',
      ['s"a'],
      'a,b',
      ['a', 'b'],
    ];
    const keys = values.map((v) => stableKey(v));
    expect(new Set(keys).size).toBe(values.length);
  });
  it('ignores object key order and Set/Map insertion order', () => {
    expect(stableKey({ a: 1, b: { c: 2, d: 3 } })).toBe(stableKey({ b: { d: 3, c: 2 }, a: 1 }));
    expect(stableKey(new Set([1, 2]))).toBe(stableKey(new Set([2, 1])));
    expect(
      stableKey(
        new Map([
          ['x', 1],
          ['y', 2],
        ]),
      ),
    ).toBe(
      stableKey(
        new Map([
          ['y', 2],
          ['x', 1],
        ]),
      ),
    );
  });
  it('tells argument lists apart from arrays', () => {
    expect(argumentsKey([1, 2])).not.toBe(argumentsKey([[1, 2]]));
    expect(argumentsKey([])).not.toBe(argumentsKey([undefined]));
    expect(argumentsKey(['a,sb', 'c'])).not.toBe(argumentsKey(['a', 'b,sc']));
  });
  it('names where an unkeyable value was found', () => {
    expect(() => argumentsKey([1, { user: { cb: () => 1 } }])).toThrow(
      'Cannot build a key: argument 1.user.cb is a function',
    );
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(() => argumentsKey([cyclic])).toThrow('argument 0.self is a cyclic reference');
    expect(() => stableKey(Symbol('s'))).toThrow(TypeError);
  });
  it('accepts shared but acyclic references', () => {
    const shared = { x: 1 };
    expect(() => stableKey({ a: shared, b: shared })).not.toThrow();
  });
});

describe('DeadlineList', () => {
  interface Entry {
    name: string;
    deadline: number;
    prev: Entry | undefined;
    next: Entry | undefined;
    listed: boolean;
  }
  const entry = (name: string, deadline: number): Entry => ({
    name,
    deadline,
    prev: undefined,
    next: undefined,
    listed: false,
  });

  it('hands out due entries in order under one timer, skipping deleted ones', async () => {
    const clock = new TestClock(0);
    const due: string[] = [];
    const list = new DeadlineList<Entry>(clock, (e) => due.push(`${e.name}@${clock.now()}`));
    const [a, b, c] = [entry('a', 10), entry('b', 20), entry('c', 30)];
    list.add(a);
    list.add(b);
    list.add(c);
    expect(clock.pendingTimers).toBe(1);
    list.delete(b);
    list.delete(b); // a second delete is a no-op
    await clock.advance(35);
    expect(due).toEqual(['a@10', 'c@30']);
    expect([a.listed, b.listed, c.listed]).toEqual([false, false, false]);
    expect(clock.pendingTimers).toBe(0);
  });

  it('lets onDue add the entry again for a later deadline', async () => {
    const clock = new TestClock(0);
    let rounds = 0;
    const list = new DeadlineList<Entry>(clock, (e) => {
      if (++rounds < 3) {
        e.deadline = clock.now() + 10;
        list.add(e);
      }
    });
    list.add(entry('x', 10));
    await clock.advance(100);
    expect(rounds).toBe(3);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('per-call options, close options and names', () => {
  it('callOptions accepts nothing or a well-formed object and names what is wrong otherwise', () => {
    expect(() => {
      callOptions('f()', undefined);
    }).not.toThrow();
    expect(() => {
      callOptions('f()', { signal: AbortSignal.abort(), scope: 't', urgent: true });
    }).not.toThrow();
    expect(() => {
      callOptions('f()', 'user-1');
    }).toThrow(
      new TypeError(
        'f(): expected an options object { signal, scope, urgent } or nothing, got "user-1".',
      ),
    );
    expect(() => {
      callOptions('f()', null);
    }).toThrow(TypeError);
    let unknown: unknown;
    try {
      callOptions('f()', { coast: 3 }, ['signal', 'cost']);
    } catch (error) {
      unknown = error;
    }
    expect(InvalidOptionError.is(unknown)).toBe(true);
    expect((unknown as InvalidOptionError).option).toBe('coast');
    expect((unknown as Error).message).toBe(
      'f(): unknown option "coast"; known options are signal, cost.',
    );
    expect(() => {
      callOptions('f()', { signal: 'x' });
    }).toThrow(new TypeError('f(): option signal must be an AbortSignal, got "x".'));
    expect(() => {
      callOptions('f()', { scope: 1 });
    }).toThrow('f(): option scope must be a string (a tenant or security domain), got 1.');
    expect(() => {
      callOptions('f()', { urgent: 'yes' });
    }).toThrow('f(): option urgent must be a boolean, got "yes".');
  });

  it('closeOptions checks { signal, timeoutMs } and fills in the default deadline', () => {
    expect(closeOptions('c()', undefined)).toEqual({ signal: undefined, timeoutMs: Infinity });
    expect(closeOptions('c()', { timeoutMs: 5 }).timeoutMs).toBe(5);
    expect(() => closeOptions('c()', { timeoutMs: -1 })).toThrow(InvalidOptionError);
    expect(() => closeOptions('c()', { force: true })).toThrow('c(): unknown option "force"');
    expect(() => closeOptions('c()', { signal: {} })).toThrow(TypeError);
    expect(() => closeOptions('c()', 3)).toThrow(TypeError);
  });

  it('forceCloseWhen forces once: at once for an aborted signal, on abort, or at the deadline', async () => {
    const clock = new TestClock();
    const reasons: unknown[] = [];
    forceCloseWhen('c()', { signal: AbortSignal.abort('now') }, clock, (r) => reasons.push(r));
    expect(reasons).toEqual(['now']);

    const controller = new AbortController();
    forceCloseWhen('c()', { signal: controller.signal, timeoutMs: 10 }, clock, (r) =>
      reasons.push(r),
    );
    controller.abort('later');
    await clock.advance(10);
    expect(reasons).toEqual(['now', 'later']);

    forceCloseWhen('c()', { timeoutMs: 10 }, clock, (r) => reasons.push(r));
    await clock.advance(10);
    expect(TimeoutError.is(reasons[2])).toBe(true);

    const disarm = forceCloseWhen('c()', { timeoutMs: 10 }, clock, (r) => reasons.push(r));
    disarm();
    await clock.advance(10);
    expect(reasons).toHaveLength(3);
  });

  it('nameOption takes a non-empty string or the default', () => {
    expect(nameOption('p()', undefined, 'p')).toBe('p');
    expect(nameOption('p()', 'db', 'p')).toBe('db');
    expect(() => nameOption('p()', '', 'p')).toThrow(
      'p(): option name must be a non-empty string, got "".',
    );
  });
});

describe('aborted contexts', () => {
  it('refuseIfAborted rejects with the reason of an aborted context, else gives undefined', async () => {
    expect(refuseIfAborted(toContext())).toBeUndefined();
    const reason = new Error('left');
    await expect(refuseIfAborted(toContext({ signal: AbortSignal.abort(reason) }))).rejects.toBe(
      reason,
    );
  });

  it("reads a lazy context's ABORT_REASON instead of creating its signal", () => {
    let created = 0;
    let reason: unknown = undefined;
    const lazy: LazySignalContext = {
      get signal(): AbortSignal {
        created++;
        return NEVER_ABORTED;
      },
      get [ABORT_REASON](): unknown {
        return reason;
      },
    };
    expect(abortReasonOf(lazy)).toBeUndefined();
    reason = 'gone';
    expect(abortReasonOf(lazy)).toBe('gone');
    expect(created).toBe(0);
  });

  it('isFailFast recognises errors that carry failFast: true', () => {
    expect(isFailFast({ failFast: true })).toBe(true);
    expect(isFailFast(new Error('x'))).toBe(false);
    expect(isFailFast(null)).toBe(false);
  });

  it('backoff is part of core', () => {
    expect(exponentialBackoff({ jitter: 'none' }).delayMs(2, 0)).toBe(200);
  });
});
