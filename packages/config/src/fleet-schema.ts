/**
 * The fleet configuration: one document that addresses each primitive by its `name` and
 * gives its tunables. Each entry names one capability, so a setting is validated against
 * the contract of the primitive it is for, with the constructor's bounds.
 *
 * ```yaml
 * primitives:
 *   users:                 # batch({ name: 'users', … })
 *     batch: { maxSize: 100, maxWaitMs: 5 }
 *   github:                # rateLimit({ name: 'github', … })
 *     rateLimit: { rate: 5000, per: hour }
 *   payments:              # circuitBreaker({ name: 'payments', … })
 *     circuitBreaker: { isolated: true }
 * ```
 *
 * Every setting here is live (applied to a running primitive by its `configure()`) except
 * the worker's; see docs/configuration.md for what each change does to work in flight.
 */
import { z } from 'zod';

// The messages are the contract in words: the loader prints them after "expected".
const int = (min: number): z.ZodNumber =>
  z
    .number(`a number`)
    .int(`an integer >= ${String(min)}`)
    .min(min, `an integer >= ${String(min)}`);
const nonNegative = (): z.ZodNumber =>
  z
    .number('a number')
    .min(0, 'a finite number >= 0')
    .max(Number.MAX_SAFE_INTEGER, 'a finite number >= 0');
const positive = (): z.ZodNumber =>
  z
    .number('a number')
    .gt(0, 'a finite number > 0')
    .max(Number.MAX_SAFE_INTEGER, 'a finite number > 0');

/** Tunables of `batch()`. */
export const batchSettingsSchema = z.strictObject({
  window: z.enum(['static', 'adaptive'], "'static' or 'adaptive'").optional(),
  maxSize: int(1).optional(),
  maxWaitMs: nonNegative().optional(),
  latencyTargetMs: positive().optional(),
  maxConcurrentBatches: int(1).optional(),
  maxPending: int(1).optional(),
});

/** Tunables of `rateLimit()` (one limit). */
export const rateLimitSettingsSchema = z.strictObject({
  rate: positive().optional(),
  per: z
    .union(
      [z.enum(['second', 'minute', 'hour', 'day']), positive()],
      "'second', 'minute', 'hour', 'day' or a number of ms > 0",
    )
    .optional(),
  burst: z.number('a number').min(1, 'a number >= 1').optional(),
  maxQueued: int(0).optional(),
  /** How long the store may keep refusing a waiter past its due time before it is `stalled`. */
  maxStallMs: int(0).optional(),
});

/** Tunables of `bulkhead()`. */
export const bulkheadSettingsSchema = z.strictObject({
  maxConcurrent: int(1).optional(),
  maxQueued: int(0).optional(),
});

/** Tunables of `hedge()`. */
export const hedgeSettingsSchema = z.strictObject({
  afterMs: nonNegative().optional(),
  maxHedges: int(0).optional(),
});

/** Tunables of `circuitBreaker()`. */
export const circuitBreakerSettingsSchema = z.strictObject({
  /** Hold the circuit open (maintenance, an upstream known down) until set false again. */
  isolated: z.boolean('true or false').optional(),
  /** Consecutive failures that open the circuit (the `consecutive` policy). */
  threshold: int(1).optional(),
  /** A rolling failure rate that opens the circuit (the `sampling` policy), instead of `threshold`. */
  sampling: z
    .strictObject({
      threshold: z
        .number('a number')
        .gt(0, 'a number > 0 and <= 1')
        .max(1, 'a number > 0 and <= 1'),
      windowMs: positive().optional(),
      buckets: int(1).optional(),
      minimumCalls: int(1).optional(),
    })
    .optional(),
  halfOpenAfterMs: nonNegative().optional(),
  halfOpenProbes: int(1).optional(),
});

/** Tunables of `timeout()`. */
export const timeoutSettingsSchema = z.strictObject({ ms: positive().optional() });

/** Tunables of `retry()`. */
export const retrySettingsSchema = z.strictObject({
  maxAttempts: int(1).optional(),
  maxRetryAfterMs: nonNegative().optional(),
  /** An exponential backoff (`exponentialBackoff()`'s options). */
  backoff: z
    .strictObject({
      initialDelayMs: nonNegative().optional(),
      factor: z.number('a number').min(1, 'a number >= 1').optional(),
      maxDelayMs: nonNegative().optional(),
      jitter: z
        .enum(
          ['none', 'full', 'equal', 'decorrelated'],
          "'none', 'full', 'equal' or 'decorrelated'",
        )
        .optional(),
    })
    .optional(),
  /** The retry budget's size (`retryBudget()`'s options), or false for none. */
  budget: z
    .union(
      [
        z.literal(false),
        z.strictObject({
          capacity: nonNegative().optional(),
          retryCost: nonNegative().optional(),
          successRefill: nonNegative().optional(),
        }),
      ],
      'false or { capacity, retryCost, successRefill }',
    )
    .optional(),
});

/** Tunables of `cache()`. */
export const cacheSettingsSchema = z.strictObject({
  /** Bumping it makes every entry of the cache a miss (`cache.setVersion`). */
  version: z.union([z.string('a string or a number'), z.number('a string or a number')]).optional(),
  ttlMs: positive().optional(),
  staleWhileRevalidateMs: nonNegative().optional(),
  staleIfErrorMs: nonNegative().optional(),
  negativeTtlMs: nonNegative().optional(),
  /** XFetch early refresh: true, false or `{ beta }`. */
  earlyRefresh: z
    .union(
      [z.boolean(), z.strictObject({ beta: positive().optional() })],
      'true, false or { beta }',
    )
    .optional(),
});

/** Tunables of a jobs `Worker`. */
export const workerSettingsSchema = z.strictObject({
  concurrency: int(1).optional(),
  claimBatch: int(1).optional(),
  pollMs: positive().optional(),
});

/** The capabilities a fleet configuration entry may name, with the schema of each. */
export const capabilitySchemas = {
  batch: batchSettingsSchema,
  rateLimit: rateLimitSettingsSchema,
  circuitBreaker: circuitBreakerSettingsSchema,
  timeout: timeoutSettingsSchema,
  retry: retrySettingsSchema,
  cache: cacheSettingsSchema,
  worker: workerSettingsSchema,
  bulkhead: bulkheadSettingsSchema,
  hedge: hedgeSettingsSchema,
} as const;

/** A capability a fleet configuration entry may name. */
export type Capability = keyof typeof capabilitySchemas;
/**
 * The settings of one capability, as a validated configuration holds them: a setting is
 * either there with its value or absent (never present as `undefined`), so the object
 * spreads into the primitive's options.
 */
export type SettingsOf<C extends Capability> = {
  [K in keyof z.output<(typeof capabilitySchemas)[C]>]?: Exclude<
    z.output<(typeof capabilitySchemas)[C]>[K],
    undefined
  >;
};

const CAPABILITIES = Object.keys(capabilitySchemas) as Capability[];

/** One primitive's entry: exactly one capability key. */
export const primitiveEntrySchema = z
  .strictObject(capabilitySchemas)
  .partial()
  .refine((entry) => Object.keys(entry).length === 1, {
    error: `exactly one of ${CAPABILITIES.join(', ')}`,
  });

/** The fleet configuration document. */
export const fleetConfigSchema = z.strictObject({
  primitives: z.record(z.string().min(1, 'a non-empty name'), primitiveEntrySchema),
});

/** A validated fleet configuration. */
export type FleetConfig = z.output<typeof fleetConfigSchema>;
/** One validated entry of {@link FleetConfig.primitives}. */
export type PrimitiveEntry = z.output<typeof primitiveEntrySchema>;

/** The capability an entry names (there is exactly one once validated). */
export function capabilityOf(entry: PrimitiveEntry): Capability {
  const capability = Object.keys(entry)[0] as Capability | undefined;
  if (capability === undefined) throw new TypeError('a validated entry names one capability');
  return capability;
}
