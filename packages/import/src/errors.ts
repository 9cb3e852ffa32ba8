/** Errors of `@batchflight/import`, each with a stable `code`. */
import { BatchflightError } from 'batchflight/core';

/** The import stopped: too many rejected rows, or the target refused a statement. */
export class ImportError extends BatchflightError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_IMPORT';
  override name = 'ImportError';
}

/**
 * A row was rejected and `maxErrors` was reached. `line` is the 1-based line of
 * the input where the row starts; nothing of the chunk holding it was committed.
 */
export class RowRejectedError extends ImportError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_IMPORT_ROW_REJECTED';
  override name = 'RowRejectedError';
  /** 1-based line where the rejected row starts. */
  readonly line: number;
  /** Why the row was rejected. */
  readonly reason: string;

  constructor(line: number, reason: string, message: string) {
    super(message);
    this.line = line;
    this.reason = reason;
  }
}

/** The input differs from the one the checkpoint was written for; pass `restart: true` to start over. */
export class InputChangedError extends ImportError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_IMPORT_INPUT_CHANGED';
  override name = 'InputChangedError';
}
