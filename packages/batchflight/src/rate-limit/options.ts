/**
 * The public types of the rate limiter (options, per-call options, stats,
 * events and their diagnostics channels) and the parsing of its limits.
 */
import {
  describe,
  eventChannel,
  InvalidOptionError,
  knownOptions,
  numberOption,
  oneOfOption,
  type CallOptions,
  type Clock,
} from '../core/index.js';
import type { RateLimitedReason } from './errors.js';
import type { RateLimitStore } from './store.js';

/** A period: milliseconds, or a unit name. */
export type RatePeriod = number | 'second' | 'minute' | 'hour' | 'day';

/** One limit: `rate` units per `per`, with bursts of up to `burst` units. */
export interface RateLimitSpec {
  /** Units admitted per `per` in the long run (> 0). */
  readonly rate: number;
  /** The period of `rate`: milliseconds or `'second' | 'minute' | 'hour' | 'day'`. Default `'second'`. */
  readonly per?: RatePeriod;
  /**
   * Units admitted at once after an idle period (>= 1). Default: `rate`
   * rounded up. Use 1 for evenly spaced calls, which a fixed-window upstream
   * limit ("10 per second") requires: a burst of 10 followed by the steady
   * rate can put up to 19 calls in one of its windows.
   */
  readonly burst?: number;
}

/** Options of {@link rateLimit}: one limit (`rate`, `per`, `burst`) or several (`limits`). */
export interface RateLimitOptions<I = unknown> extends Partial<RateLimitSpec> {
  /** Several limits charged all or nothing (e.g. 20/second and 1000/minute), instead of `rate`. */
  readonly limits?: readonly RateLimitSpec[];
  /** Where the GCRA state lives. Default: a new {@link MemoryRateLimitStore} on `clock`. */
  readonly store?: RateLimitStore;
  /** The limited key of an input (per user, per endpoint…). Default: one key for every call. */
  readonly key?: (input: I) => string;
  /** Units an input consumes (>= 0, <= the smallest burst). Default 1. */
  readonly cost?: (input: I) => number;
  /** What to do with a call that does not fit now. Default `'wait'`. */
  readonly whenLimited?: 'wait' | 'reject';
  /** Most callers waiting at once, over all keys; beyond it a call fails with `reason: 'queue-full'`. Default 10 000. */
  readonly maxQueued?: number;
  /**
   * With `whenLimited: 'wait'`: how long, in milliseconds, the store may keep refusing a waiter
   * past the time it said the call would pass before the waiter rejects with
   * `reason: 'stalled'`. A store that refuses every call (a fail-closed store while its server
   * is down) would otherwise keep its waiters for ever. The first wait the limit asks for is
   * never cut short, however long. Default 60 000; `Infinity` never gives up.
   */
  readonly maxStallMs?: number;
  /** Prefix of the store keys, to share one store between limiters. Default `'rl'`. */
  readonly name?: string;
  /** Drives the queue timers (and the default store). Default: the system clock. */
  readonly clock?: Clock;
}

/** Per-call options of {@link RateLimitPolicy.acquire} and {@link RateLimitPolicy.schedule}. */
export interface RateLimitCallOptions extends CallOptions {
  /** The limited key. Default `''`. */
  readonly key?: string | undefined;
  /** Units to charge. Default 1. */
  readonly cost?: number | undefined;
}

/** Counters of a {@link RateLimitPolicy}. */
export interface RateLimitStats {
  /** Calls admitted (at once or after waiting). */
  readonly admitted: number;
  /** Calls that found no room at once (they waited or were rejected). */
  readonly limited: number;
  /** Calls rejected with {@link RateLimitedError} (`'reject'`, or queue full). */
  readonly rejected: number;
  /** Calls that waited in a queue and were admitted. */
  readonly waited: number;
  /** Waiting calls that left because their signal aborted (or the limiter closed). */
  readonly aborted: number;
  /** Callers waiting now, over all keys. */
  readonly queued: number;
}

/** Payload of {@link RateLimitPolicy.onLimited}: a call found no room. */
export interface RateLimitedEvent {
  readonly name: string;
  readonly key: string;
  readonly scope: string | undefined;
  readonly cost: number;
  readonly retryAfterMs: number;
  /** What happened to the call. */
  readonly action: 'wait' | 'reject' | 'queue-full';
}

/** Payload of {@link RateLimitPolicy.onDequeued}: a waiting call was admitted. */
export interface RateLimitDequeuedEvent {
  readonly name: string;
  readonly key: string;
  readonly scope: string | undefined;
  /** How long it waited, in ms of the limiter's clock. */
  readonly waitedMs: number;
}

/** Payload of the `admitted` channel: a call was granted its units (at once or after waiting). */
export interface RateLimitAdmittedEvent {
  readonly name: string;
  readonly key: string;
  readonly scope: string | undefined;
  readonly cost: number;
  /** How long it waited in the key's queue, in ms of the limiter's clock (0: admitted at once). */
  readonly waitedMs: number;
}

/** Payload of the `rejected` channel: a call failed with {@link RateLimitedError}. */
export interface RateLimitRejectedEvent {
  readonly name: string;
  readonly key: string;
  readonly scope: string | undefined;
  readonly cost: number;
  /** Why: over the limit with `whenLimited: 'reject'`, the queue full, or the store stalled. */
  readonly reason: RateLimitedReason;
  readonly retryAfterMs: number;
}

/**
 * The settings {@link RateLimitPolicy.configure} changes while the limiter runs (and
 * {@link RateLimitPolicy.settings} shows): one limit (`rate`, `per`, `burst`) or several
 * (`limits`), and the queue bounds. A key left out keeps its value; a key given as
 * `undefined` goes back to the constructor's default.
 */
export interface RateLimitSettings {
  readonly rate?: number | undefined;
  readonly per?: RatePeriod | undefined;
  readonly burst?: number | undefined;
  readonly limits?: readonly RateLimitSpec[] | undefined;
  readonly maxQueued?: number | undefined;
  readonly maxStallMs?: number | undefined;
}

/** Payload of the `configured` channel: {@link RateLimitPolicy.configure} changed the settings. */
export interface RateLimitConfiguredEvent {
  readonly name: string;
  /** The settings before the change. */
  readonly previous: RateLimitSettings;
  /** The settings from now on. */
  readonly current: RateLimitSettings;
}

/**
 * The diagnostics channels of every limiter (`batchflight:rate-limit:<event>`): `limited`, a
 * call found no room; `dequeued`, a waiting call was admitted; `admitted`, every admission
 * (at once or after waiting); `rejected`, a call failed with RateLimitedError (its reason);
 * `configured`, the settings changed while running.
 */
export const rateLimitChannels = {
  limited: eventChannel<RateLimitedEvent>('rate-limit', 'limited'),
  dequeued: eventChannel<RateLimitDequeuedEvent>('rate-limit', 'dequeued'),
  admitted: eventChannel<RateLimitAdmittedEvent>('rate-limit', 'admitted'),
  rejected: eventChannel<RateLimitRejectedEvent>('rate-limit', 'rejected'),
  configured: eventChannel<RateLimitConfiguredEvent>('rate-limit', 'configured'),
} as const;

/** One parsed limit. */
export interface Limit {
  readonly rate: number;
  readonly perMs: number;
  readonly burst: number;
}

const PERIODS = { second: 1_000, minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;
/** The names {@link RateLimitPolicy.configure} accepts. */
export const SETTINGS = ['rate', 'per', 'burst', 'limits', 'maxQueued', 'maxStallMs'] as const;

/** The option names of {@link RateLimitOptions}. */
export const OPTIONS = [
  'rate',
  'per',
  'burst',
  'limits',
  'store',
  'key',
  'cost',
  'whenLimited',
  'maxQueued',
  'maxStallMs',
  'name',
  'clock',
] as const;

function periodOption(where: string, option: string, value: RatePeriod | undefined): number {
  if (value === undefined) return 1_000;
  if (typeof value === 'string') {
    return PERIODS[oneOfOption(where, option, value, ['second', 'minute', 'hour', 'day'])];
  }
  return numberOption(where, option, value, { exclusive: true });
}

function limitOption(where: string, spec: RateLimitSpec): Limit {
  knownOptions(where, spec, ['rate', 'per', 'burst']);
  const rate = numberOption(where, 'rate', spec.rate, { exclusive: true });
  const perMs = periodOption(where, 'per', spec.per);
  const burst = numberOption(where, 'burst', spec.burst ?? Math.max(1, Math.ceil(rate)), {
    min: 1,
  });
  return { rate, perMs, burst };
}

/** The limits of `options`: one from `rate`/`per`/`burst`, or each of `limits`. */
export function limitsOption<I>(where: string, options: RateLimitOptions<I>): readonly Limit[] {
  if (options.limits !== undefined) {
    if (options.rate !== undefined || options.per !== undefined || options.burst !== undefined) {
      throw new InvalidOptionError(
        'limits',
        `${where}: give either rate/per/burst or limits, not both.`,
      );
    }
    if (!Array.isArray(options.limits) || options.limits.length === 0) {
      throw new InvalidOptionError(
        'limits',
        `${where}: option limits must be a non-empty array of { rate, per, burst }, got ${describe(options.limits)}.`,
      );
    }
    const specs: readonly RateLimitSpec[] = options.limits;
    return specs.map((spec, i) => limitOption(`${where} limits[${String(i)}]`, spec));
  } else {
    return [
      limitOption(where, {
        rate: options.rate as number,
        ...(options.per !== undefined && { per: options.per }),
        ...(options.burst !== undefined && { burst: options.burst }),
      }),
    ];
  }
}
