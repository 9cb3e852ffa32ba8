/**
 * Backoff strategies: how long to wait before attempt `n + 1`. Shared by
 * retry, batch (item retries) and jobs (attempt delays), so it lives in core.
 *
 * Exponential backoff alone synchronises clients that failed together, so
 * they retry together and fail together again. Jitter spreads them out; the
 * variants follow the AWS Architecture Blog's "Exponential Backoff and
 * Jitter": full jitter (`random(0, exp)`, the best spread), equal jitter
 * (`exp/2 + random(0, exp/2)`, never shorter than half), and decorrelated
 * jitter (`min(cap, random(base, previous * 3))`, each wait grows from the
 * last one actually taken).
 */
import { InvalidOptionError } from './errors.js';
import { describe } from './describe.js';
import { functionOption, numberOption, oneOfOption } from './validate.js';

/** A backoff: the delay in milliseconds before the retry that follows `attempt` (1-based). */
export interface Backoff {
  /**
   * @param attempt - the attempt that just failed, starting at 1.
   * @param previousDelayMs - the delay returned for the previous attempt (0 before the first).
   */
  delayMs(attempt: number, previousDelayMs: number): number;
}

/** The jitter applied to exponential backoff. */
export type Jitter = 'none' | 'full' | 'equal' | 'decorrelated';

/** Options of {@link exponentialBackoff}. */
export interface ExponentialBackoffOptions {
  /** Delay after the first failure, in milliseconds. Default 100. */
  readonly initialDelayMs?: number;
  /** Growth factor per attempt. Default 2. */
  readonly factor?: number;
  /** Upper bound of any delay, in milliseconds. Default 30 000. */
  readonly maxDelayMs?: number;
  /** Default `'full'`. */
  readonly jitter?: Jitter;
  /** Source of randomness in [0, 1); inject a seeded one in tests. Default `Math.random`. */
  readonly random?: () => number;
}

const WHERE = 'exponentialBackoff()';

/**
 * Exponential backoff with jitter.
 *
 * @example
 * ```ts
 * const backoff = exponentialBackoff({ initialDelayMs: 50, maxDelayMs: 2_000, jitter: 'full' });
 * backoff.delayMs(3, 0); // a random delay in [0, 200)
 * ```
 */
export function exponentialBackoff(options: ExponentialBackoffOptions = {}): Backoff {
  const initial = numberOption(WHERE, 'initialDelayMs', options.initialDelayMs ?? 100);
  const factor = numberOption(WHERE, 'factor', options.factor ?? 2, { min: 1 });
  const max = numberOption(WHERE, 'maxDelayMs', options.maxDelayMs ?? 30_000, { min: initial });
  const jitter = oneOfOption(WHERE, 'jitter', options.jitter ?? 'full', [
    'none',
    'full',
    'equal',
    'decorrelated',
  ]);
  const random = functionOption<() => number>(WHERE, 'random', options.random ?? Math.random);
  return {
    delayMs(attempt, previousDelayMs) {
      if (jitter === 'decorrelated') {
        const low = initial;
        const high = Math.max(low, (previousDelayMs || initial) * 3);
        return Math.min(max, low + random() * (high - low));
      }
      // Cap the exponent so huge attempt numbers cannot overflow to Infinity before the min().
      const exp = Math.min(max, initial * factor ** Math.min(attempt - 1, 1000));
      switch (jitter) {
        case 'none':
          return exp;
        case 'full':
          return random() * exp;
        case 'equal':
          return exp / 2 + random() * (exp / 2);
      }
    },
  };
}

/** The same delay after every failure. */
export function constantBackoff(delayMs: number): Backoff {
  const delay = numberOption('constantBackoff()', 'delayMs', delayMs);
  return { delayMs: () => delay };
}

/**
 * Accepts the forms a user may pass where a backoff is expected: a
 * {@link Backoff}, a function `(attempt, previousDelayMs) => ms`, or a number
 * (constant delay).
 */
export function toBackoff(
  where: string,
  value: Backoff | ((attempt: number, previousDelayMs: number) => number) | number,
): Backoff {
  if (typeof value === 'number') return constantBackoff(value);
  if (typeof value === 'function') return { delayMs: value };
  if (typeof (value as Partial<Backoff> | null)?.delayMs === 'function') return value;
  throw new InvalidOptionError(
    'backoff',
    `${where}: option backoff must be a Backoff ({ delayMs(attempt, previousDelayMs) }), a function (attempt, previousDelayMs) => ms, or a number of milliseconds, got ${describe(value)}.`,
  );
}
