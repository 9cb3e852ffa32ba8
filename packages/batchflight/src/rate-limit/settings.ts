/**
 * The settings of a rate limiter in force: validated with the constructor's messages, swapped
 * as one object by `configure()`, and the error a refusal under them carries.
 */
import { describe, integerOption, InvalidOptionError, knownOptions } from '../core/index.js';
import { RateLimitedError, type RateLimitedReason } from './errors.js';
import { limitsOption, type Limit, type RateLimitSettings, SETTINGS } from './options.js';
import type { RateLimitDecision, RateLimitRule } from './store.js';

/** The constructor's name in messages. */
export const WHERE = 'rateLimit()';

/**
 * The settings in force, swapped as one object by configure(): a call reads them once, so a
 * change is atomic (no call sees the new rate with the old burst).
 */
export interface Settings {
  /** What was given (for the next configure() to merge over), without the queue bounds. */
  readonly given: Pick<RateLimitSettings, 'rate' | 'per' | 'burst' | 'limits'>;
  readonly limits: readonly Limit[];
  readonly minBurst: number;
  readonly maxQueued: number;
  readonly maxStallMs: number;
}

/** Validates settings with the constructor's messages (`where` is the constructor's). */
export function parseSettings(where: string, given: RateLimitSettings): Settings {
  const spec = {
    ...(given.rate !== undefined && { rate: given.rate }),
    ...(given.per !== undefined && { per: given.per }),
    ...(given.burst !== undefined && { burst: given.burst }),
    ...(given.limits !== undefined && { limits: given.limits }),
  };
  const limits = limitsOption(where, spec);
  return {
    given: spec,
    limits,
    minBurst: Math.min(...limits.map((l) => l.burst)),
    maxQueued: integerOption(where, 'maxQueued', given.maxQueued ?? 10_000, {
      min: 0,
      allowInfinity: true,
    }),
    maxStallMs: integerOption(where, 'maxStallMs', given.maxStallMs ?? 60_000, {
      min: 0,
      allowInfinity: true,
    }),
  };
}

/** The public view of settings: what runs, with the limits as given (one limit, or `limits`). */
export function publicSettings(settings: Settings): RateLimitSettings {
  const { limits, maxQueued, maxStallMs } = settings;
  if (settings.given.limits !== undefined) {
    return {
      limits: limits.map((l) => ({ rate: l.rate, per: l.perMs, burst: l.burst })),
      maxQueued,
      maxStallMs,
    };
  }
  const l = limits[0] as Limit;
  return { rate: l.rate, per: l.perMs, burst: l.burst, maxQueued, maxStallMs };
}

/** The error of a call refused for `reason` under `settings`, with the store's numbers. */
export function limitedError(
  where: string,
  settings: Settings,
  decision: RateLimitDecision | undefined,
  reason: RateLimitedReason,
): RateLimitedError {
  const { maxQueued, maxStallMs } = settings;
  const limit = settings.limits[
    decision === undefined ? 0 : Math.max(0, decision.limitedBy)
  ] as Limit;
  const retryAfterMs = decision?.retryAfterMs ?? Infinity;
  return new RateLimitedError(
    reason === 'limited'
      ? `Rate limit of ${String(limit.rate)} per ${String(limit.perMs)} ms exceeded; retry after ${String(Math.ceil(retryAfterMs))} ms.`
      : reason === 'queue-full'
        ? `Rate limit queue is full (${String(maxQueued)} callers already wait).`
        : `${where}: the store kept refusing this waiter more than maxStallMs (${String(maxStallMs)} ms) past the time it said the call would pass (now retry after ${String(Math.ceil(retryAfterMs))} ms); a store that refuses every call (fail-closed while its server is down) ends here.`,
    {
      retryAfterMs,
      limit: limit.rate,
      perMs: limit.perMs,
      remaining: decision?.remaining ?? 0,
      resetAfterMs: decision?.resetAfterMs ?? Infinity,
      reason,
    },
  );
}

/**
 * The settings after `configure(settings)`: what is not given stays; `limits` alone replaces a
 * single limit (and the other way round), so no mix is left behind. Throws the constructor's
 * messages.
 */
export function mergeSettings(previous: Settings, settings: RateLimitSettings): Settings {
  knownOptions(WHERE, settings, SETTINGS);
  const { maxQueued, maxStallMs } = previous;
  const switching =
    'limits' in settings && !('rate' in settings || 'per' in settings || 'burst' in settings);
  const base = switching ? { maxQueued, maxStallMs } : { maxQueued, maxStallMs, ...previous.given };
  return parseSettings(WHERE, { ...base, ...settings });
}

/** Throws unless `key` is a string. */
export function checkKey(where: string, key: unknown): void {
  if (typeof key !== 'string') {
    throw new TypeError(
      `${where}: a key must be a string (acquire({ key }), or the key(input) option), got ${describe(key)}.`,
    );
  }
}

/** A call's cost, checked: a cost above the smallest burst could never be admitted. */
export function checkCost(where: string, settings: Settings, cost: unknown): number {
  const minBurst = settings.minBurst;
  if (typeof cost !== 'number' || !(cost >= 0) || cost > minBurst) {
    throw new InvalidOptionError(
      'cost',
      `${where}: a call's cost must be a number >= 0 and <= the smallest burst (${String(minBurst)}), or it could never be admitted; got ${describe(cost)}.`,
    );
  }
  return cost;
}

/** The store rules of queue `id` under the limits of `settings` (one store key per limit). */
export function storeRules(settings: Settings, id: string): RateLimitRule[] {
  const limits = settings.limits;
  if (limits.length === 1) {
    const l = limits[0] as Limit;
    return [{ key: id, rate: l.rate, perMs: l.perMs, burst: l.burst }];
  }
  return limits.map((l, i) => ({
    key: `${id}#${String(i)}`,
    rate: l.rate,
    perMs: l.perMs,
    burst: l.burst,
  }));
}
