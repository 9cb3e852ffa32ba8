/**
 * A {@link Clock} that only moves when told to, for deterministic tests of
 * anything that waits: no wall-clock ranges, no flakiness, no real sleeping.
 */
import type { Clock, Timer, TimerOptions } from 'batchflight/core';

interface Scheduled {
  readonly at: number;
  readonly seq: number;
  readonly callback: () => void;
  cancelled: boolean;
}

/** Lets queued promise callbacks (and anything they queue) run. */
export function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A manual clock.
 *
 * @example
 * ```ts
 * const clock = new TestClock();
 * const done = sleep(100, { clock });
 * await clock.advance(100); // runs the timer, then lets promise callbacks settle
 * await done;
 * ```
 */
export class TestClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: Scheduled[] = [];

  /** @param startMs - the initial `now()`, milliseconds since the epoch. */
  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimer(callback: () => void, delayMs: number, _options?: TimerOptions): Timer {
    const entry: Scheduled = {
      at: this.#now + Math.max(0, delayMs),
      seq: this.#seq++,
      callback,
      cancelled: false,
    };
    // Keep the list ordered by (at, seq): timers fire in time order, ties in creation order.
    let index = this.#timers.length;
    while (index > 0) {
      const previous = this.#timers[index - 1] as Scheduled;
      if (previous.at < entry.at || (previous.at === entry.at && previous.seq < entry.seq)) break;
      index--;
    }
    this.#timers.splice(index, 0, entry);
    return {
      cancel: () => {
        entry.cancelled = true;
      },
    };
  }

  /** Number of timers scheduled and not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  /** The time the next live timer fires at, or undefined when none is scheduled. */
  get nextTimerAt(): number | undefined {
    return this.#timers.find((t) => !t.cancelled)?.at;
  }

  /**
   * Moves time forward by `ms`, firing every timer due on the way in order.
   * After each timer (and at the start) promise callbacks are flushed, so
   * work a timer triggers, including new timers inside the window, happens
   * before `advance` returns.
   */
  async advance(ms: number): Promise<void> {
    if (!(ms >= 0))
      throw new RangeError(`TestClock.advance(ms): ms must be >= 0, got ${String(ms)}.`);
    const target = this.#now + ms;
    await flushMicrotasks();
    for (;;) {
      const next = this.#timers[0];
      if (next === undefined || next.at > target) break;
      this.#timers.shift();
      if (next.cancelled) continue;
      this.#now = Math.max(this.#now, next.at);
      next.callback();
      await flushMicrotasks();
    }
    this.#now = target;
    await flushMicrotasks();
  }

  /** Sets `now()` to an absolute time (forward only), firing due timers. */
  async setTime(epochMs: number): Promise<void> {
    await this.advance(Math.max(0, epochMs - this.#now));
  }

  /**
   * Fires timers until none is left (or `maxTimers` fired, to stop runaway
   * loops that keep rescheduling). Returns the number fired.
   */
  async runAll(maxTimers = 10_000): Promise<number> {
    let fired = 0;
    await flushMicrotasks();
    while (fired < maxTimers) {
      const next = this.#timers.find((t) => !t.cancelled);
      if (next === undefined) break;
      await this.advance(next.at - this.#now);
      fired++;
    }
    return fired;
  }
}
