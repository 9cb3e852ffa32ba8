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
});

/** Tunables of `circuitBreaker()`. */
export const circuitBreakerSettingsSchema = z.strictObject({
  /** Hold the circuit open (maintenance, an upstream known down) until set false again. */
  isolated: z.boolean('true or false').optional(),
  /** Consecutive failures that open the circuit (the `consecutive` policy). */
  threshold: int(1).optional(),
  halfOpenAfterMs: nonNegative().optional(),
  halfOpenProbes: int(1).optional(),
});

/** Tunables of `timeout()`. */
export const timeoutSettingsSchema = z.strictObject({ ms: positive().optional() });

/** Tunables of `retry()`. */
export const retrySettingsSchema = z.strictObject({
  maxAttempts: int(1).optional(),
  maxRetryAfterMs: nonNegative().optional(),
});

/** Tunables of `cache()`. */
export const cacheSettingsSchema = z.strictObject({
  /** Bumping it makes every entry of the cache a miss (`cache.setVersion`). */
  version: z.union([z.string('a string or a number'), z.number('a string or a number')]).optional(),
  ttlMs: positive().optional(),
  staleWhileRevalidateMs: nonNegative().optional(),
  staleIfErrorMs: nonNegative().optional(),
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
