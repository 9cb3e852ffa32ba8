import { describe, expect, it } from 'vitest';
import { InvalidOptionError, toContext } from '../core/index.js';
import { fallback, fallbackChannels, type FallbackEvent } from './index.js';

describe('fallback', () => {
  it('answers with the value when the call fails, and passes successes through', async () => {
    const policy = fallback<number, string>({ value: 'default' });
    const events: FallbackEvent[] = [];
    policy.onFallback((e) => events.push(e));
    const boom = new Error('boom');
    await expect(policy.wrap(() => Promise.reject(boom))(1, toContext())).resolves.toBe('default');
    await expect(policy.wrap(async (n) => `ok:${String(n)}`)(2, toContext())).resolves.toBe('ok:2');
    await expect(
      policy.wrap(() => {
        throw boom;
      })(3, toContext()),
    ).resolves.toBe('default');
    expect(events).toEqual([
      { name: 'fallback', error: boom },
      { name: 'fallback', error: boom },
    ]);
    expect(policy.stats()).toEqual({ calls: 3, fallbacks: 2 });
  });

  it('computes the substitute from the error, the input and the context', async () => {
    const policy = fallback<number, string>({
      compute: async (error, input, ctx) =>
        `${(error as Error).message}/${String(input)}/${ctx.scope ?? ''}`,
    });
    await expect(
      policy.wrap(() => Promise.reject(new Error('down')))(7, toContext({ scope: 't1' })),
    ).resolves.toBe('down/7/t1');
    const failing = fallback<number, string>({
      compute: () => {
        throw new Error('no substitute either');
      },
    });
    await expect(
      failing.wrap(() => Promise.reject(new Error('x')))(1, toContext()),
    ).rejects.toThrow('no substitute either');
  });

  it("replaces only the errors `when` accepts, never the caller's own abort", async () => {
    const policy = fallback<number, string>({
      value: 'stale',
      when: (e) => (e as { status?: number }).status === 503,
    });
    const badRequest = Object.assign(new Error('400'), { status: 400 });
    await expect(policy.wrap(() => Promise.reject(badRequest))(1, toContext())).rejects.toBe(
      badRequest,
    );
    const controller = new AbortController();
    const reason = Object.assign(new Error('left'), { status: 503 });
    controller.abort(reason);
    await expect(
      policy.wrap((_n, { signal }) => Promise.reject(signal.reason as Error))(1, {
        signal: controller.signal,
      }),
    ).rejects.toBe(reason);
  });

  it('execute() is the plain-function form', async () => {
    await expect(
      fallback({ value: 0 }).execute(() => Promise.reject(new Error('x'))),
    ).resolves.toBe(0);
  });

  it('validates its options', () => {
    expect(() => fallback({} as never)).toThrow(
      'fallback(): give exactly one of value (the substitute) or compute ((error, input, ctx) => substitute), got neither.',
    );
    expect(() => fallback({ value: 1, compute: () => 2 } as never)).toThrow(InvalidOptionError);
    expect(() => fallback({ value: 1, when: 3 } as never)).toThrow(
      'fallback(): option when must be a function, got 3.',
    );
  });
});

describe('fallback: aborted callers and name', () => {
  it('a call whose signal is already aborted starts nothing and is not answered by the substitute', async () => {
    const policy = fallback({ value: 'stale', name: 'prices' });
    let calls = 0;
    const reason = new Error('left');
    const signal = AbortSignal.abort(reason);
    await expect(policy.wrap(async () => String(++calls))(1, toContext({ signal }))).rejects.toBe(
      reason,
    );
    await expect(policy.execute(async () => String(++calls), { signal })).rejects.toBe(reason);
    expect(calls).toBe(0);
    expect(policy.stats()).toEqual({ calls: 0, fallbacks: 0 });
  });

  it('takes a name, carried by its events and option errors', async () => {
    const policy = fallback({ value: 0, name: 'prices' });
    expect(policy.name).toBe('prices');
    expect(fallback({ value: 0 }).name).toBe('fallback');
    await expect(
      policy.execute(async () => 1, { urgent: 'yes' as unknown as boolean }),
    ).rejects.toThrow('fallback(prices).execute(): option urgent must be a boolean, got "yes".');
    expect(fallbackChannels.fallback.name).toBe('batchflight:fallback:fallback');
  });
});
