/**
 * Time, injected. Every timer in batchflight comes from a {@link Clock}, so
 * tests drive time with `TestClock` from `@batchflight/testing` instead of
 * waiting on the wall clock.
 */

import { NEVER_ABORTED } from './handler.js';

/** A scheduled callback that can be cancelled. Cancelling twice is harmless. */
export interface Timer {
  cancel(): void;
}

/** Options of {@link Clock.setTimer}. */
export interface TimerOptions {
  /**
   * When false the timer keeps the process alive. Defaults to true:
   * housekeeping must never hold a process open.
   */
  readonly unref?: boolean;
}

/** The source of time and timers. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Runs `callback` once after `delayMs` milliseconds. */
  setTimer(callback: () => void, delayMs: number, options?: TimerOptions): Timer;
}

class NodeTimer implements Timer {
  constructor(private readonly handle: NodeJS.Timeout) {}
  cancel(): void {
    clearTimeout(this.handle);
  }
}

/** The real clock: `Date.now()` and Node timers (unref'd by default). */
export const systemClock: Clock = {
  now: Date.now,
  setTimer(callback, delayMs, options) {
    const handle = setTimeout(callback, Math.max(0, delayMs));
    if (options?.unref !== false) handle.unref();
    return new NodeTimer(handle);
  },
};

/**
 * Waits `delayMs` on `clock`, rejecting with `signal.reason` as soon as the
 * signal aborts. The abort listener is removed when the wait ends either way.
 */
export function sleep(
  delayMs: number,
  options?: { readonly clock?: Clock; readonly signal?: AbortSignal; readonly unref?: boolean },
): Promise<void> {
  const clock = options?.clock ?? systemClock;
  // The shared never-aborting signal gets no listener: thousands of sleeps would pile them up.
  const signal = options?.signal === NEVER_ABORTED ? undefined : options?.signal;
  if (signal?.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      timer.cancel();
      reject(signal?.reason as Error);
    };
    const timer = clock.setTimer(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      delayMs,
      { unref: options?.unref ?? false },
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
