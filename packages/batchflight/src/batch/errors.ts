/**
 * Errors of `batch()`. Each has a stable `code`, an explicit `name` and a
 * `Foo.is(value)` guard that works across two installed copies.
 */
import { BatchflightError, type BatchflightErrorOptions } from '../core/index.js';

/**
 * The bulk `load` function broke its contract: an array of the wrong length,
 * or something that is neither an array, a Map nor a record. Every caller of
 * the batch receives it, so a contract bug is loud, never a hang.
 */
export class BatchContractError extends BatchflightError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_BATCH_CONTRACT';
  override name = 'BatchContractError';
  /** Number of keys passed to `load`. */
  readonly keyCount: number;
  /** Length of the array `load` returned, or undefined when it was not an array. */
  readonly resultLength: number | undefined;
  constructor(
    message: string,
    keyCount: number,
    resultLength: number | undefined,
    options?: BatchflightErrorOptions,
  ) {
    super(message, options);
    this.keyCount = keyCount;
    this.resultLength = resultLength;
  }
}

/**
 * The bulk result had no entry for this key and the batcher was created with
 * `onMissing: 'error'`.
 */
export class NotFoundError extends BatchflightError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_NOT_FOUND';
  override name = 'NotFoundError';
  /** The key that was missing from the bulk result. */
  readonly key: unknown;
  constructor(message: string, key: unknown, options?: BatchflightErrorOptions) {
    super(message, options);
    this.key = key;
  }
}

/**
 * `maxPending` items are already waiting and the batcher was created with
 * `whenFull: 'reject'`: the caller is turned away at once instead of growing
 * memory without bound.
 */
export class BackpressureError extends BatchflightError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_BACKPRESSURE';
  override name = 'BackpressureError';
  /** The `maxPending` limit that was reached. */
  readonly maxPending: number;
  constructor(message: string, maxPending: number, options?: BatchflightErrorOptions) {
    super(message, options);
    this.maxPending = maxPending;
  }
}
