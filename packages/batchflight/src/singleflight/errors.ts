/**
 * Errors specific to single flight. Timeouts use the core `TimeoutError`, so a
 * waiter's deadline and a flight's deadline are caught the same way as every
 * other deadline in batchflight.
 */
import { BatchflightError } from '../core/index.js';

/**
 * The function of a flight called `run()` for its own key (and scope)
 * synchronously, before returning. Joining would make the flight wait for
 * itself forever, so the inner call is refused with this error instead.
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
      `SingleFlight: the function running key ${JSON.stringify(key)}` +
        `${scope === undefined ? '' : ` in scope ${JSON.stringify(scope)}`} called run() for ` +
        'the same key synchronously; joining would wait for itself forever. ' +
        'Use another key, or call it after an await.',
    );
    this.key = key;
    this.scope = scope;
  }
}
