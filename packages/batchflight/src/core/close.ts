/**
 * The one close shape of every long-lived object: `close({ signal, timeoutMs })`
 * is graceful (running work finishes, nothing new starts) and turns forced
 * when `signal` aborts or `timeoutMs` passes, whichever comes first. What
 * "forced" means is the object's own (reject what waits, stop waiting for
 * what runs); this module only decides when.
 */
import type { Clock, Timer } from './clock.js';
import { TimeoutError } from './errors.js';
import { closeOptions } from './validate.js';

/**
 * Checks `options` (see `closeOptions`) and calls `force(reason)` once when
 * the close must turn forced: at once when the signal is already aborted,
 * when it aborts (reason: `signal.reason`) or after `timeoutMs` (reason: a
 * `TimeoutError`). Returns a function that disarms it; call it when the
 * graceful close has finished. The timer is unref'd.
 *
 * @example
 * ```ts
 * const disarm = forceCloseWhen('bulkhead(db).close()', options, clock, (reason) => this.#force(reason));
 * await drained;
 * disarm();
 * ```
 */
export function forceCloseWhen(
  where: string,
  options: unknown,
  clock: Clock,
  force: (reason: unknown) => void,
): () => void {
  const { signal, timeoutMs } = closeOptions(where, options);
  let done = false;
  let timer: Timer | undefined;
  const fire = (reason: unknown): void => {
    if (done) return;
    disarm();
    force(reason);
  };
  const onAbort = (): void => {
    fire(signal?.reason);
  };
  const disarm = (): void => {
    done = true;
    timer?.cancel();
    signal?.removeEventListener('abort', onAbort);
  };
  if (signal?.aborted === true) {
    fire(signal.reason);
    return disarm;
  }
  signal?.addEventListener('abort', onAbort, { once: true });
  if (timeoutMs !== Infinity) {
    timer = clock.setTimer(() => {
      fire(
        new TimeoutError(
          `${where}: the graceful close did not finish within ${String(timeoutMs)} ms; forced.`,
          timeoutMs,
        ),
      );
    }, timeoutMs);
  }
  return disarm;
}
