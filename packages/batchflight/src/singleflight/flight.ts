/**
 * One flight: the record of one execution for a (key, scope), and how a
 * flight knows that a caller is one of its own descendants (re-entry).
 *
 * Re-entry is a wait-for cycle: the function of flight A calls `run()` for a
 * key whose flight B (transitively) waits for A, often B = A itself. Joining
 * would make the flight wait for itself forever, so it is refused with a
 * `FlightReentryError`. A flight learns which flight a call comes from
 *
 * - during the synchronous part of its own function (always);
 * - through the context it handed out: the `ctx` a layer's handler receives
 *   carries its flight, and so does any context spread from it;
 * - through `AsyncLocalStorage` when the group was built with
 *   `detectAsyncReentry` (costly on Node 20, so opt-in).
 *
 * Each flight records the flights its function called into (`waitsOn`); a
 * join from flight A into flight B is refused when B reaches A by those
 * edges. A flight is assumed to wait for every call its function makes.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { type CallContext, type Handler, NEVER_ABORTED, type Timer } from '../core/index.js';
import { FlightReentryError } from './errors.js';
import type { FlightContext } from './options.js';

// The function of a flight: `fn(ctx)` for run(), `fn.apply(thisArg, args)` for singleflight(), `next(input, ctx)` for layer().
export type FlightFn = (...args: never[]) => unknown;

/**
 * A key as stored: the string key, or, for the default key of a `singleflight()`
 * function called with one number, the number itself (hashing a number is
 * cheaper than building and hashing `n42`). Every string key is tagged, so a
 * number can never equal one.
 */
export type MapKey = string | number;
export type Table<V> = Map<MapKey, Flight<V>>;

/** The property under which a context handed out by a flight names it. */
export const FLIGHT: unique symbol = Symbol('batchflight.flight');

/**
 * How a flight calls its function: `run()` as `fn(ctx)`, `singleflight()`
 * as `fn.apply(thisArg, args)`, `layer()` as `next(input, ctx)` (`thisArg`
 * then holds the leader's context, `args` the input).
 */
export const Calling = { Context: 0, Apply: 1, Handler: 2 } as const;
export type Calling = (typeof Calling)[keyof typeof Calling];

export class Flight<V> {
  /** Settles every caller; set before the function runs. */
  promise!: Promise<V>;
  resolve!: (value: V) => void;
  reject!: (reason: unknown) => void;
  controller: AbortController | undefined = undefined;
  /** Every caller the flight had, leaders and joiners, including those that left. */
  callers = 1;
  /** Attached callers that may still leave (they have a signal or a timeout). */
  detachable = 0;
  /** A caller that can never leave is attached: the execution is never aborted by departures. */
  pinned: boolean;
  settled = false;
  /** True while the function runs its synchronous part: a join now is a re-entry. */
  starting = false;
  startedAt: number | undefined = undefined;
  timer: Timer | undefined = undefined;
  /** Flights this flight's function called into (see the module comment); undefined until one. */
  waitsOn: Flight<unknown>[] | undefined = undefined;
  /** Neighbours in the group's list of running flights (a forced close walks it). */
  previousActive: Flight<V> | undefined = undefined;
  nextActive: Flight<V> | undefined = undefined;

  constructor(
    readonly mapKey: MapKey,
    readonly scope: string | undefined,
    readonly table: Table<V>,
    readonly fn: FlightFn,
    readonly thisArg: unknown,
    readonly args: readonly unknown[] | undefined,
    pinned: boolean,
  ) {
    this.pinned = pinned;
  }

  /** The key as callers know it (`n42` for a number key). */
  get key(): string {
    return typeof this.mapKey === 'number' ? `n${String(this.mapKey)}` : this.mapKey;
  }
}

/** Records that `caller`'s function called into `callee`. */
export function addWait(caller: Flight<unknown>, callee: Flight<unknown>): void {
  (caller.waitsOn ??= []).push(callee);
}

/**
 * True when a caller inside flight `from` joining `to` would wait for itself:
 * `to` is `from` or reaches it through the flights it waits on.
 */
export function waitsFor(to: Flight<unknown>, from: Flight<unknown>): boolean {
  if (to === from) return true;
  if (to.waitsOn === undefined) return false;
  const seen = new Set<Flight<unknown>>();
  const stack = [to];
  for (let flight = stack.pop(); flight !== undefined; flight = stack.pop()) {
    for (const next of flight.waitsOn ?? []) {
      if (next === from) return true;
      // A settled flight waits for nothing any more.
      if (!next.settled && !seen.has(next)) {
        seen.add(next);
        stack.push(next);
      }
    }
  }
  return false;
}

/** The flight a context was handed out by, if it was. */
export function flightOf(context: object | undefined): Flight<unknown> | undefined {
  return (context as { [FLIGHT]?: Flight<unknown> } | undefined)?.[FLIGHT];
}

let storage: AsyncLocalStorage<Flight<unknown>> | undefined;

/** The storage of `detectAsyncReentry`, created by the first group that asks for it. */
export function flightStorage(): AsyncLocalStorage<Flight<unknown>> {
  storage ??= new AsyncLocalStorage();
  return storage;
}

/** Calls a flight's function the way its caller asked for. */
export function callFlight<V>(flight: Flight<V>, calling: Calling): V | Promise<V> {
  const signal = flight.controller === undefined ? NEVER_ABORTED : flight.controller.signal;
  switch (calling) {
    case Calling.Context: {
      const ctx: FlightContext & { readonly [FLIGHT]: Flight<unknown> } = {
        signal,
        scope: flight.scope,
        key: flight.key,
        [FLIGHT]: flight as Flight<unknown>,
      };
      return (flight.fn as (ctx: FlightContext) => V | Promise<V>)(ctx);
    }
    case Calling.Apply:
      return (flight.fn as (...args: unknown[]) => V | Promise<V>).apply(
        flight.thisArg,
        flight.args as unknown[],
      );
    default: {
      // The leader's context, with the execution's signal and the flight's mark (re-entry detection).
      const leader = flight.thisArg as CallContext;
      const ctx: CallContext & { readonly [FLIGHT]: Flight<unknown> } = {
        ...leader,
        // A class context (a timeout's, a hedge's) has scope and urgent as getters on its
        // prototype, which a spread drops: read them. Own fields (a retry's attempt) are spread.
        scope: leader.scope,
        urgent: leader.urgent,
        signal,
        [FLIGHT]: flight as Flight<unknown>,
      };
      return (flight.fn as Handler<unknown, V>)((flight.args as unknown[])[0], ctx);
    }
  }
}

/**
 * The `FlightReentryError` of a caller that would join `flight` from inside a
 * flight that `flight` waits for, if it would: the synchronous part of the
 * flight's own function, a context it handed out, or its own execution signal.
 */
export function reentryOf<V>(
  flight: Flight<V>,
  from: Flight<unknown> | undefined,
  signal: AbortSignal | undefined,
): FlightReentryError | undefined {
  const target = flight as Flight<unknown>;
  const inside =
    flight.starting ||
    (signal !== undefined && flight.controller?.signal === signal) ||
    (from !== undefined && waitsFor(target, from));
  if (inside) return new FlightReentryError(flight.key, flight.scope);
  if (from !== undefined) addWait(from, target);
  return undefined;
}
