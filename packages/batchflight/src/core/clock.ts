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
  /**
   * Runs `callback` once after `delayMs` milliseconds, of any length: a delay
   * of 2^31 ms or more fires on time, `Infinity` never fires, a negative one
   * at once.
   */
  setTimer(callback: () => void, delayMs: number, options?: TimerOptions): Timer;
}

/**
 * The longest delay Node's `setTimeout` honours: 2^31 - 1 ms, about 24.8
 * days. A longer one fires after 1 ms (with a `TimeoutOverflowWarning`), so
 * {@link systemClock} chains timers of at most this length instead.
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/**
 * The platform timers a {@link ChainedTimer} schedules on (Node's
 * `setTimeout` in {@link systemClock}); injectable so the chaining is tested
 * without waiting.
 *
 * @internal
 */
export interface PlatformTimers<H> {
  /** Schedules `callback` after `delayMs` (at most {@link MAX_TIMER_DELAY_MS}). */
  set(callback: () => void, delayMs: number, unref: boolean): H;
  clear(handle: H): void;
}

/**
 * A timer of any length on platform timers of bounded length: it arms
 * `MAX_TIMER_DELAY_MS` at a time and fires when the whole delay has passed,
 * so a 2^31 ms timeout fires after 2^31 ms, never after 1 ms. The remaining
 * delay is counted down by the lengths armed (not by re-reading the wall
 * clock), so a clock adjustment cannot shorten or stretch it. An infinite
 * delay never fires (as on the TestClock); a negative or NaN one fires at once.
 *
 * @internal
 */
export class ChainedTimer<H> implements Timer {
  #handle: H | undefined = undefined;
  #remaining: number;
  #cancelled = false;

  constructor(
    private readonly timers: PlatformTimers<H>,
    private readonly callback: () => void,
    delayMs: number,
    private readonly unref: boolean,
  ) {
    this.#remaining = delayMs > 0 ? delayMs : 0;
    this.#arm();
  }

  cancel(): void {
    this.#cancelled = true;
    if (this.#handle !== undefined) this.timers.clear(this.#handle);
    this.#handle = undefined;
  }

  #arm(): void {
    const step = Math.min(this.#remaining, MAX_TIMER_DELAY_MS);
    this.#remaining -= step;
    this.#handle = this.timers.set(this.#fired, step, this.unref);
  }

  readonly #fired = (): void => {
    this.#handle = undefined;
    if (this.#cancelled) return;
    if (this.#remaining > 0) this.#arm();
    else this.callback();
  };
}

const nodeTimers: PlatformTimers<NodeJS.Timeout> = {
  set(callback, delayMs, unref) {
    const handle = setTimeout(callback, delayMs);
    if (unref) handle.unref();
    return handle;
  },
  clear(handle) {
    clearTimeout(handle);
  },
};

class NodeTimer implements Timer {
  constructor(private readonly handle: NodeJS.Timeout) {}
  cancel(): void {
    clearTimeout(this.handle);
  }
}

/**
 * The real clock: `Date.now()` and Node timers (unref'd by default). Delays
 * longer than {@link MAX_TIMER_DELAY_MS} are chained, so they fire on time.
 */
export const systemClock: Clock = {
  now: Date.now,
  setTimer(callback, delayMs, options) {
    const unref = options?.unref !== false;
    // The common case stays one Node timer and one small object.
    if (delayMs <= MAX_TIMER_DELAY_MS) {
      return new NodeTimer(nodeTimers.set(callback, Math.max(0, delayMs), unref));
    }
    return new ChainedTimer(nodeTimers, callback, delayMs, unref);
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
