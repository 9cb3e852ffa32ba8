/**
 * Properties of single flight, checked against a model over random
 * interleavings of calls (with or without a signal, in scopes), settlements
 * (value or error) and aborts:
 *
 * 1. among overlapping callers at most one live execution per (key, scope):
 *    a call starts an execution exactly when the model has no live one;
 * 2. every caller receives the outcome of the execution it joined (the same
 *    value or error object), or its own `signal.reason` if it left first;
 * 3. the execution's signal is aborted exactly when its last caller left;
 * 4. no abort listener is left on any caller's signal (counted with
 *    `getEventListeners`, not assumed).
 */
import { getEventListeners } from 'node:events';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SingleFlight } from './index.js';

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

interface Execution {
  readonly id: number;
  readonly slot: string;
  readonly signal: AbortSignal;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  /** Callers attached that can leave. */
  leavable: number;
  pinned: boolean;
  live: boolean;
  outcome: Outcome | undefined;
}

interface Caller {
  readonly execution: Execution;
  readonly controller: AbortController | undefined;
  readonly result: Promise<Outcome>;
  left: unknown;
  hasLeft: boolean;
}

const KEYS = ['a', 'b'];
const SCOPES = [undefined, 's1', 's2'];

const command = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('call' as const),
      key: fc.constantFrom(...KEYS),
      scope: fc.constantFrom(...SCOPES),
      withSignal: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('settle' as const),
      pick: fc.nat(),
      fail: fc.boolean(),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('abort' as const), pick: fc.nat() }) },
);

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('SingleFlight properties', () => {
  it('one live execution per (key, scope), every caller gets its outcome, no leaked listeners', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { maxLength: 60 }), async (commands) => {
        const flights = new SingleFlight();
        const live = new Map<string, Execution>();
        const executions: Execution[] = [];
        const callers: Caller[] = [];

        for (const cmd of commands) {
          if (cmd.kind === 'call') {
            const slot = `${cmd.scope ?? '-'}/${cmd.key}`;
            const controller = cmd.withSignal ? new AbortController() : undefined;
            let started: Execution | undefined;
            const promise = flights.run(
              cmd.key,
              ({ signal }) =>
                new Promise((resolve, reject) => {
                  started = {
                    id: executions.length,
                    slot,
                    signal,
                    resolve,
                    reject,
                    leavable: 0,
                    pinned: false,
                    live: true,
                    outcome: undefined,
                  };
                  executions.push(started);
                }),
              controller === undefined
                ? cmd.scope === undefined
                  ? undefined
                  : { scope: cmd.scope }
                : { signal: controller.signal, scope: cmd.scope },
            );
            const expected = live.get(slot);
            // Property 1: start an execution exactly when none is live for the slot.
            if (expected === undefined) {
              expect(started).toBeDefined();
              live.set(slot, started!);
            } else {
              expect(started).toBeUndefined();
            }
            const execution = expected ?? started!;
            if (controller === undefined) execution.pinned = true;
            else execution.leavable++;
            callers.push({
              execution,
              controller,
              left: undefined,
              hasLeft: false,
              result: promise.then(
                (value) => ({ ok: true, value }),
                (error: unknown) => ({ ok: false, error }),
              ),
            });
          } else if (cmd.kind === 'settle') {
            const running = executions.filter((e) => e.outcome === undefined);
            const execution = running[cmd.pick % Math.max(1, running.length)];
            if (execution === undefined) continue;
            if (cmd.fail) {
              const error = new Error(`execution ${execution.id} failed`);
              execution.outcome = { ok: false, error };
              execution.reject(error);
            } else {
              const value = { from: execution.id };
              execution.outcome = { ok: true, value };
              execution.resolve(value);
            }
            await flush();
            if (live.get(execution.slot) === execution) live.delete(execution.slot);
            execution.live = false;
          } else {
            const waiting = callers.filter(
              (c) => c.controller !== undefined && !c.hasLeft && c.execution.outcome === undefined,
            );
            const caller = waiting[cmd.pick % Math.max(1, waiting.length)];
            if (caller === undefined) continue;
            const reason = new Error('left');
            caller.hasLeft = true;
            caller.left = reason;
            caller.controller!.abort(reason);
            const execution = caller.execution;
            execution.leavable--;
            // Property 3: the execution is aborted exactly when its last caller left.
            const lastOut = !execution.pinned && execution.leavable === 0;
            expect(execution.signal.aborted).toBe(lastOut);
            if (lastOut) {
              expect(execution.signal.reason).toBe(reason);
              if (live.get(execution.slot) === execution) live.delete(execution.slot);
              execution.live = false;
            }
            expect(getEventListeners(caller.controller!.signal, 'abort')).toHaveLength(0);
          }
        }

        // Let every remaining execution finish, then check what each caller received.
        for (const execution of executions) {
          if (execution.outcome === undefined) {
            execution.outcome = { ok: true, value: { late: execution.id } };
            execution.resolve(execution.outcome.value);
          }
        }
        const results = await Promise.all(callers.map((c) => c.result));
        results.forEach((result, index) => {
          const caller = callers[index]!;
          // Property 2: the same value or error object, or the caller's own reason.
          if (caller.hasLeft) expect(result).toEqual({ ok: false, error: caller.left });
          else {
            const expected = caller.execution.outcome!;
            expect(result.ok).toBe(expected.ok);
            if (result.ok && expected.ok) expect(result.value).toBe(expected.value);
            if (!result.ok && !expected.ok) expect(result.error).toBe(expected.error);
          }
          // Property 4: nothing stays attached to any caller's signal.
          if (caller.controller !== undefined) {
            expect(getEventListeners(caller.controller.signal, 'abort')).toHaveLength(0);
          }
        });
        await flush();
        expect(flights.stats().active).toBe(0);
        expect(flights.stats().misses).toBe(executions.length);
        expect(flights.stats().hits).toBe(callers.length - executions.length);
      }),
      { numRuns: 300 },
    );
  });
});
