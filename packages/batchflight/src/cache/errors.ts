/** Errors of `batchflight/cache`. */
import { BatchflightError } from '../core/index.js';

/**
 * A cache key breaks its contract: keys are strings that do not start with
 * the NUL character (reserved to partition scopes, so a key can never forge
 * another scope's entry).
 */
export class CacheKeyError extends BatchflightError {
  static override readonly code: string = 'ERR_BATCHFLIGHT_CACHE_KEY';
  override name = 'CacheKeyError';
}
