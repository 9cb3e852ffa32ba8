/**
 * When a closed breaker opens. A policy is a description; each breaker
 * creates its own {@link PolicyState} from it, so one policy object can be
 * given to many breakers.
 */
import { InvalidOptionError, integerOption, knownOptions, numberOption } from '../core/index.js';

/** The running state of a policy inside one breaker. */
export interface PolicyState {
  /** False when the policy ignores time, so the breaker can skip reading the clock on success. */
  readonly timed: boolean;
  /** Records a success at `nowMs`. */
  success(nowMs: number): void;
  /** Records a failure at `nowMs`; true when the breaker should open. */
  failure(nowMs: number): boolean;
  /** Forgets everything (on closing). */
  reset(): void;
  /** A JSON-safe snapshot for {@link CircuitBreakerPolicy.toJSON}. */
  toJSON(): unknown;
}

/** A breaker policy: see {@link consecutive} and {@link sampling}. */
export interface BreakerPolicy {
  /** `'consecutive'` or `'sampling'`, for diagnostics. */
  readonly kind: string;
  /** A fresh state, or one restored from `saved` (a former `toJSON()`). */
  create(saved?: unknown): PolicyState;
}

/**
 * Opens after `threshold` failures in a row; any success resets the count.
 *
 * @example
 * ```ts
 * circuitBreaker({ policy: consecutive(5), halfOpenAfterMs: 10_000 });
 * ```
 */
export function consecutive(threshold: number): BreakerPolicy {
  const n = integerOption('consecutive()', 'threshold', threshold);
  return {
    kind: 'consecutive',
    create(saved) {
      let count =
        typeof (saved as { failures?: unknown } | undefined)?.failures === 'number'
          ? (saved as { failures: number }).failures
          : 0;
      return {
        timed: false,
        success() {
          count = 0;
        },
        failure() {
          return ++count >= n;
        },
        reset() {
          count = 0;
        },
        toJSON() {
          return { failures: count };
        },
      };
    },
  };
}

/** Options of {@link sampling}. */
export interface SamplingOptions {
  /** Failure rate in (0, 1] at or above which the breaker opens, e.g. 0.5. */
  readonly threshold: number;
  /** Length of the rolling window, in milliseconds. Default 10 000. */
  readonly windowMs?: number;
  /** Buckets the window is divided into (its resolution). Default 10. */
  readonly buckets?: number;
  /** Fewest calls in the window before the rate is trusted. Default 10. */
  readonly minimumCalls?: number;
  /** Alternative to `minimumCalls`: fewest calls per second over the window. */
  readonly minimumRps?: number;
}

const SAMPLING = 'sampling()';

/**
 * Opens when, over a rolling window, the failure rate reaches `threshold`
 * with at least the minimum volume. The window is a ring of buckets, so
 * a success costs one increment and a failure one pass over the buckets.
 *
 * @example
 * ```ts
 * // Open when half the calls of the last 10 s failed, once there were at least 20.
 * circuitBreaker({ policy: sampling({ threshold: 0.5, windowMs: 10_000, minimumCalls: 20 }) });
 * ```
 */
export function sampling(options: SamplingOptions): BreakerPolicy {
  knownOptions(SAMPLING, options, [
    'threshold',
    'windowMs',
    'buckets',
    'minimumCalls',
    'minimumRps',
  ]);
  const threshold = numberOption(SAMPLING, 'threshold', options.threshold, {
    min: 0,
    max: 1,
    exclusive: true,
  });
  const windowMs = numberOption(SAMPLING, 'windowMs', options.windowMs ?? 10_000, {
    min: 0,
    exclusive: true,
  });
  const buckets = integerOption(SAMPLING, 'buckets', options.buckets ?? 10);
  if (options.minimumCalls !== undefined && options.minimumRps !== undefined) {
    throw new InvalidOptionError(
      'minimumRps',
      `${SAMPLING}: give either minimumCalls or minimumRps, not both (got ${String(options.minimumCalls)} and ${String(options.minimumRps)}).`,
    );
  }
  const minimumCalls =
    options.minimumRps !== undefined
      ? Math.max(
          1,
          Math.ceil((numberOption(SAMPLING, 'minimumRps', options.minimumRps) * windowMs) / 1000),
        )
      : integerOption(SAMPLING, 'minimumCalls', options.minimumCalls ?? 10);
  const bucketMs = windowMs / buckets;
  return {
    kind: 'sampling',
    create(saved) {
      const epochs = new Array<number>(buckets).fill(-Infinity);
      const successes = new Array<number>(buckets).fill(0);
      const failures = new Array<number>(buckets).fill(0);
      const snapshot = saved as
        { epochs?: unknown; successes?: unknown; failures?: unknown } | undefined;
      if (
        Array.isArray(snapshot?.epochs) &&
        snapshot.epochs.length === buckets &&
        Array.isArray(snapshot.successes) &&
        Array.isArray(snapshot.failures)
      ) {
        for (let i = 0; i < buckets; i++) {
          const epoch: unknown = snapshot.epochs[i];
          epochs[i] = typeof epoch === 'number' ? epoch : -Infinity;
          successes[i] = Number(snapshot.successes[i]) || 0;
          failures[i] = Number(snapshot.failures[i]) || 0;
        }
      }
      // The bucket of `nowMs`, emptied first when it still holds an older epoch.
      const slot = (nowMs: number): number => {
        const epoch = Math.floor(nowMs / bucketMs);
        const index = epoch % buckets;
        if (epochs[index] !== epoch) {
          epochs[index] = epoch;
          successes[index] = 0;
          failures[index] = 0;
        }
        return index;
      };
      return {
        timed: true,
        success(nowMs) {
          const index = slot(nowMs);
          successes[index] = (successes[index] ?? 0) + 1;
        },
        failure(nowMs) {
          const index = slot(nowMs);
          failures[index] = (failures[index] ?? 0) + 1;
          const oldest = Math.floor(nowMs / bucketMs) - buckets + 1;
          let failed = 0;
          let total = 0;
          for (let i = 0; i < buckets; i++) {
            if ((epochs[i] ?? -Infinity) < oldest) continue;
            failed += failures[i] ?? 0;
            total += (failures[i] ?? 0) + (successes[i] ?? 0);
          }
          return total >= minimumCalls && failed / total >= threshold;
        },
        reset() {
          epochs.fill(-Infinity);
          successes.fill(0);
          failures.fill(0);
        },
        toJSON() {
          // -Infinity is not JSON; null stands for an unused bucket.
          return {
            epochs: epochs.map((e) => (Number.isFinite(e) ? e : null)),
            successes: [...successes],
            failures: [...failures],
          };
        },
      };
    },
  };
}
