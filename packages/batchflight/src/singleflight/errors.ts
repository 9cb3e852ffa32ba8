/**
 * Errors specific to single flight. Timeouts use the core `TimeoutError`, so a
 * waiter's deadline and a flight's deadline are caught the same way as every
 * other deadline in batchflight.
 */
import { BatchflightError } from '../core/index.js';

/**
 * A call came from inside a flight's function into that same flight (or into
 * a flight that waits for it): joining would make the flight wait for itself
 * forever, so the inner call is refused with this error instead.
 *
 * Detected always in the synchronous part of the function, for calls made
 * through the `ctx` a layer's handler received (or a context spread from it)
 * or with the execution's own signal, and after an `await` without them when
 * the group was built with `detectAsyncReentry`.
 */
export class FlightReentryError extends BatchflightError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_FLIGHT_REENTRY';
  override name = 'FlightReentryError';
  /** The key that was re-entered. */
  readonly key: string;
  /** The scope of that key, if any. */
  readonly scope: string | undefined;

  constructor(key: string, scope: string | undefined) {
    super(
      `SingleFlight: a call for key ${JSON.stringify(key)}` +
        `${scope === undefined ? '' : ` in scope ${JSON.stringify(scope)}`} came from inside ` +
        'the function of that flight (or of a flight it waits for); joining would make the ' +
        'flight wait for itself forever. Use another key, or make the call once the flight ' +
        'has settled: from inside its function, even after an await, it would wait for itself all the same.',
    );
    this.key = key;
    this.scope = scope;
  }
}
