/**
 * The options of single flight and their checks. Every check names the
 * option, echoes the value and states the contract (`InvalidOptionError`).
 */
import {
  type CallContext,
  type CallOptions,
  type Clock,
  InvalidOptionError,
  describe,
  knownOptions,
  numberOption,
  systemClock,
} from '../core/index.js';

/** Options of {@link SingleFlight}. */
export interface SingleFlightOptions {
  /** Time source of the timeouts. Default: the system clock. */
  readonly clock?: Clock | undefined;
  /**
   * Default longest wait of one caller, in milliseconds. A caller whose wait
   * exceeds it rejects alone with a `TimeoutError`; the flight goes on for the
   * others (and is aborted if it was the last one). Per call: `run(…, { timeoutMs })`.
   * Default: no limit.
   */
  readonly timeoutMs?: number | undefined;
  /**
   * Longest run of one execution, in milliseconds. When it passes, the
   * execution's signal aborts with a `TimeoutError`, every caller of the
   * flight rejects with that same error, and the key is free for a new
   * flight. Default: no limit.
   */
  readonly flightTimeoutMs?: number | undefined;
  /**
   * A name carried by every event and error message, to tell instances apart
   * (and by which central configuration addresses the instance).
   */
  readonly name?: string | undefined;
  /**
   * Also detect a flight's function calling back into its own flight after an
   * `await` when it does not pass its `ctx` on (see {@link FlightReentryError}),
   * by tracking which flight code runs in with `AsyncLocalStorage`. Off by
   * default: on Node 20 it turns on async context tracking for the whole
   * process, which makes every `await` dearer (about 2.5x in a
   * microbenchmark of bare awaits; nothing more when something else already
   * uses `AsyncLocalStorage`).
   */
  readonly detectAsyncReentry?: boolean | undefined;
}

/**
 * Per-call options of {@link SingleFlight.run}: `signal` lets this caller
 * leave (it rejects alone with `signal.reason`), `scope` partitions (two
 * scopes never share a flight), `urgent` is accepted so a `CallContext` can be
 * passed as options (single flight holds no call back). Unknown names are an
 * `InvalidOptionError`.
 */
export interface FlightRunOptions extends CallOptions {
  /** Longest wait of this caller in milliseconds; overrides the instance's `timeoutMs`. */
  readonly timeoutMs?: number | undefined;
}

/**
 * What the function of {@link SingleFlight.run} receives, the context every
 * batchflight callback gets: `signal` is the execution's signal (it aborts
 * when every caller that could leave has left, the flight timed out or a
 * close was forced), `scope` the flight's scope. Passed on as the options of
 * another `run()` (or spread into a handler's context), it also tells the
 * group that the call comes from this flight, so a call back into it is a
 * `FlightReentryError` instead of a deadlock.
 */
export interface FlightContext extends CallContext {
  /** The key of the flight. */
  readonly key: string;
}

/** Options of {@link SingleFlight.close}. */
export interface SingleFlightCloseOptions {
  /** Aborting it (or an already aborted one) forces the close at once. */
  readonly signal?: AbortSignal | undefined;
  /** The graceful close turns forced after this many milliseconds. Default: no deadline. */
  readonly timeoutMs?: number | undefined;
}

/** Options of {@link SingleFlight.layer}. */
export interface SingleFlightLayerOptions<I> {
  /** The key of an input. Default: the tagged stable encoding of the input (`stableKey`). */
  readonly key?: ((input: I) => string) | undefined;
}

/** What {@link SingleFlight.runShared} resolves to. */
export interface SharedResult<T> {
  readonly value: T;
  /** True when another caller joined the execution that produced `value`. */
  readonly shared: boolean;
}

/** Counters of a {@link SingleFlight}; see {@link SingleFlight.stats}. */
export interface SingleFlightStats {
  /** Calls that joined a flight already running. */
  readonly hits: number;
  /** Calls that started a flight (executions). */
  readonly misses: number;
  /** Flights that settled with an error (a flight timeout and a forced close included). */
  readonly errors: number;
  /** Flights started and not yet settled. */
  readonly active: number;
  /** `hits / (hits + misses)`, 0 before the first call. */
  readonly hitRate: number;
}

/** The option names of `new SingleFlight()`. */
export const GROUP_OPTIONS = [
  'clock',
  'timeoutMs',
  'flightTimeoutMs',
  'name',
  'detectAsyncReentry',
] as const;

/** A duration option in ms: positive, `Infinity` (or absent) for none. */
export function timeoutOption(where: string, option: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const ms = numberOption(where, option, value, { min: 0, exclusive: true, allowInfinity: true });
  return ms === Infinity ? undefined : ms;
}

/** The `clock` option. */
export function clockOption(where: string, value: Clock | undefined): Clock {
  if (value === undefined) return systemClock;
  // Typed as a Clock, but it comes from untyped callers too.
  const clock = value as Partial<Clock> | null;
  if (
    clock === null ||
    typeof clock !== 'object' ||
    typeof clock.now !== 'function' ||
    typeof clock.setTimer !== 'function'
  ) {
    throw new InvalidOptionError(
      'clock',
      `${where}: option clock must be a Clock (an object with now() and setTimer()), got ${describe(value)}.`,
    );
  }
  return clock as Clock;
}

/** An optional string option (`name`). */
export function stringOption(where: string, option: string, value: unknown): string | undefined {
  if (value === undefined || typeof value === 'string') return value;
  throw new InvalidOptionError(
    option,
    `${where}: option ${option} must be a string, got ${describe(value)}.`,
  );
}

/**
 * Refuses per-call option names `run()` does not know (`{ timeoutMS: 1 }`
 * was silently ignored). A for-in loop: no array of names per call.
 */
export function checkRunOptions(options: FlightRunOptions): InvalidOptionError | undefined {
  for (const name in options) {
    if (name !== 'signal' && name !== 'scope' && name !== 'timeoutMs' && name !== 'urgent') {
      return new InvalidOptionError(
        name,
        `SingleFlight#run(): unknown option ${JSON.stringify(name)}; known options are signal, scope, timeoutMs (and urgent, ignored).`,
      );
    }
  }
  return undefined;
}

/** The checked options of `close()`; throws naming the bad one. */
export function closeOptions(
  where: string,
  options: SingleFlightCloseOptions,
): { signal: AbortSignal | undefined; timeoutMs: number | undefined } {
  if (typeof options !== 'object' || (options as unknown) === null) {
    throw new TypeError(`${where}: options must be an object, got ${describe(options)}.`);
  }
  knownOptions(where, options, ['signal', 'timeoutMs']);
  const signal = options.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new InvalidOptionError(
      'signal',
      `${where}: option signal must be an AbortSignal (aborting it forces the close), got ${describe(signal)}.`,
    );
  }
  const timeoutMs =
    options.timeoutMs === undefined
      ? undefined
      : numberOption(where, 'timeoutMs', options.timeoutMs, { min: 0, allowInfinity: true });
  return { signal, timeoutMs };
}

/** A key that is not a string. */
export function keyError(where: string, key: unknown, subject = 'key'): TypeError {
  return new TypeError(
    `${where}: ${subject} must be a string, got ${describe(key)}. ` +
      'Use argumentsKey()/stableKey() to turn values into a key.',
  );
}

/** Rejects with exactly what was thrown, Error or not: user code decides what its errors are. */
export function rejectWith<T>(reason: unknown): Promise<T> {
  // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- passes a thrown value on unchanged
  return Promise.reject(reason);
}
