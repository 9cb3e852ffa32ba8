/**
 * A retry budget: a token bucket of retries shared by every call of one or
 * more retry policies, after the AWS SDK's retry quota.
 *
 * Each retry costs `retryCost` tokens; a call that succeeds at once puts
 * `successRefill` back, a call that succeeds after retrying refunds one
 * `retryCost`. While the upstream is healthy the bucket stays full; during an
 * outage every call wants retries, the bucket drains after
 * `capacity / retryCost` of them and from then on calls fail after one
 * attempt, so the outage costs the upstream about one call per caller call
 * instead of `maxAttempts`. It refills as successes come back.
 */
import { knownOptions, numberOption } from '../core/index.js';

/** Options of {@link retryBudget}. */
export interface RetryBudgetOptions {
  /** Tokens when full (and at start). Default 500 (the AWS SDK's quota). */
  readonly capacity?: number;
  /** Tokens one retry costs. Default 5. */
  readonly retryCost?: number;
  /** Tokens a call that succeeds on its first attempt puts back. Default 1. */
  readonly successRefill?: number;
}

/** A snapshot of a budget. */
export interface RetryBudgetStats {
  readonly tokens: number;
  readonly capacity: number;
  /** Retries refused because the bucket was empty. */
  readonly exhausted: number;
}

const WHERE = 'retryBudget()';
const OPTIONS = ['capacity', 'retryCost', 'successRefill'];

/** A token bucket of retries; share one instance between policies to share the budget. */
export class RetryBudget {
  #capacity: number;
  #retryCost: number;
  #successRefill: number;
  #tokens: number;
  #exhausted = 0;

  constructor(options: RetryBudgetOptions = {}) {
    knownOptions(WHERE, options, OPTIONS);
    this.#capacity = numberOption(WHERE, 'capacity', options.capacity ?? 500);
    this.#retryCost = numberOption(WHERE, 'retryCost', options.retryCost ?? 5);
    this.#successRefill = numberOption(WHERE, 'successRefill', options.successRefill ?? 1);
    this.#tokens = this.#capacity;
  }

  /** Tokens when full. */
  get capacity(): number {
    return this.#capacity;
  }

  /** Tokens one retry costs. */
  get retryCost(): number {
    return this.#retryCost;
  }

  /** Tokens a call that succeeds on its first attempt puts back. */
  get successRefill(): number {
    return this.#successRefill;
  }

  /** The settings in force. */
  get settings(): Required<RetryBudgetOptions> {
    return {
      capacity: this.#capacity,
      retryCost: this.#retryCost,
      successRefill: this.#successRefill,
    };
  }

  /**
   * Resizes the bucket while it runs, for every policy that shares it. The tokens left are
   * kept (cut to a smaller capacity; a larger one fills as successes come back, as after an
   * outage). Settings left out keep their value; invalid ones throw the constructor's error
   * and change nothing (`dryRun` only checks).
   *
   * @example
   * ```ts
   * budget.configure({ capacity: 100 }); // at most 20 retries in a burst from now on
   * ```
   */
  configure(settings: RetryBudgetOptions, options?: { readonly dryRun?: boolean }): void {
    knownOptions(WHERE, settings, OPTIONS);
    const capacity = numberOption(WHERE, 'capacity', settings.capacity ?? this.#capacity);
    const retryCost = numberOption(WHERE, 'retryCost', settings.retryCost ?? this.#retryCost);
    const successRefill = numberOption(
      WHERE,
      'successRefill',
      settings.successRefill ?? this.#successRefill,
    );
    if (options?.dryRun === true) return;
    this.#capacity = capacity;
    this.#retryCost = retryCost;
    this.#successRefill = successRefill;
    this.#tokens = Math.min(this.#tokens, capacity);
  }

  /** Tokens left. */
  get tokens(): number {
    return this.#tokens;
  }

  /** Takes the cost of one retry; false (and nothing taken) when the bucket cannot pay. */
  tryAcquire(): boolean {
    if (this.#tokens < this.#retryCost) {
      this.#exhausted++;
      return false;
    }
    this.#tokens -= this.#retryCost;
    return true;
  }

  /** Records a success: `retried` says whether the call needed retries. */
  recordSuccess(retried: boolean): void {
    const refill = retried ? this.#retryCost : this.#successRefill;
    if (this.#tokens < this.#capacity) {
      this.#tokens = Math.min(this.#capacity, this.#tokens + refill);
    }
  }

  stats(): RetryBudgetStats {
    return { tokens: this.#tokens, capacity: this.#capacity, exhausted: this.#exhausted };
  }
}

/**
 * Creates a {@link RetryBudget}.
 *
 * @example
 * ```ts
 * const budget = retryBudget({ capacity: 100, retryCost: 5 }); // at most 20 retries in a burst
 * const a = retry({ budget }), b = retry({ budget }); // both draw from the same bucket
 * ```
 */
export function retryBudget(options?: RetryBudgetOptions): RetryBudget {
  return new RetryBudget(options);
}
