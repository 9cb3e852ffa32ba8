import { BatchflightError } from '../core/index.js';

/**
 * The abort reason given to an attempt that lost the race: another attempt
 * of the same hedged call answered first. Never seen by the caller.
 */
export class HedgeCancelledError extends BatchflightError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_HEDGE_CANCELLED';
  override name = 'HedgeCancelledError';
}
