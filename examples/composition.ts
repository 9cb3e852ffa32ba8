/** docs/concepts/composition.md: Handler, Layer and stack(), with two tiny layers of your own. */
// #region usage
import { stack, toContext, type CallContext, type Handler, type Layer } from 'batchflight/core';
import { retry } from 'batchflight/retry';
import { timeout } from 'batchflight/timeout';

// interface CallContext { readonly signal: AbortSignal; readonly scope?: string; readonly urgent?: boolean }
// type Handler<I, O> = (input: I, ctx: CallContext) => Promise<O>;
// interface Layer<I, O> { wrap(next: Handler<I, O>): Handler<I, O> }
const trace = (name: string, seen: string[]): Layer<number, string> => ({
  wrap: (next) => (input, ctx: CallContext) => {
    seen.push(name);
    return next(input, ctx);
  },
});
const seen: string[] = [];
const handler: Handler<number, string> = async (n) => `value ${String(n)}`;
const call = stack(trace('a', seen), trace('b', seen)).wrap(handler); // a sees the call first
await call(1, toContext({ scope: 'tenant-a' })); // seen: ['a', 'b']

// The policies' wrap is generic: built without type arguments, they take their types from the handler.
const guarded = stack(retry({ maxAttempts: 3 }), timeout({ ms: 500 })).wrap(handler); // Handler<number, string>
await guarded(2, toContext());
// #endregion

export const results = { seen, value: await call(2, toContext()) };
