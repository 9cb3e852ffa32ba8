/**
 * A timed-out call rejects with core's `TimeoutError` (`ERR_BATCHFLIGHT_TIMEOUT`,
 * with `timeoutMs`), the same object that is the abort reason of the inner
 * signal, so `TimeoutError.is(error)` tells a timeout from the caller's own
 * abort (which rejects with the caller's `signal.reason`).
 */
export { TimeoutError } from '../core/index.js';
