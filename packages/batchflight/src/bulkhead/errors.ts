import { BatchflightError } from '../core/index.js';

/** Every slot and every queue place of a bulkhead is taken; the call did not start. */
export class BulkheadFullError extends BatchflightError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_BULKHEAD_FULL';
  override name = 'BulkheadFullError';
  readonly maxConcurrent: number;
  readonly maxQueued: number;

  constructor(message: string, maxConcurrent: number, maxQueued: number) {
    super(message);
    this.maxConcurrent = maxConcurrent;
    this.maxQueued = maxQueued;
  }
}
