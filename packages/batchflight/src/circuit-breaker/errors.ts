import { BatchflightError } from '../core/index.js';

/**
 * A call was refused because the circuit is open (or half-open with every
 * probe slot taken, or isolated). Nothing reached the upstream.
 */
export class CircuitOpenError extends BatchflightError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_CIRCUIT_OPEN';
  override name = 'CircuitOpenError';
  /**
   * When a call may be admitted again, in milliseconds: the time left until
   * half-open. `Infinity` while the breaker is isolated.
   */
  readonly retryAfterMs: number;
  /** True when refused because of {@link CircuitBreakerPolicy.isolate}. */
  readonly isolated: boolean;
  /** Callers should not retry at once (see `isFailFast`): retry's default `isRetryable` stops on it. */
  readonly failFast = true;

  constructor(message: string, retryAfterMs: number, isolated: boolean) {
    super(message);
    this.retryAfterMs = retryAfterMs;
    this.isolated = isolated;
  }
}
