import { afterEach, describe, expect, it, vi } from 'vitest';
import { ChainedTimer, MAX_TIMER_DELAY_MS, type PlatformTimers, systemClock } from './clock.js';

/** Platform timers that fire only when told to, recording the delays armed. */
class ManualTimers implements PlatformTimers<number> {
  readonly armed: number[] = [];
  readonly cleared: number[] = [];
  readonly #callbacks = new Map<number, () => void>();

  set(callback: () => void, delayMs: number): number {
    this.armed.push(delayMs);
    this.#callbacks.set(this.armed.length, callback);
    return this.armed.length;
  }

  clear(handle: number): void {
    this.cleared.push(handle);
    this.#callbacks.delete(handle);
  }

  /** Fires the timer armed last. */
  fireLast(): void {
    const callback = this.#callbacks.get(this.armed.length);
    this.#callbacks.delete(this.armed.length);
    callback?.();
  }
}

describe('timers of 2^31 ms and more (issue 18 finding 7)', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('chains platform timers of at most 2^31 - 1 ms and fires once the whole delay has passed', () => {
    const timers = new ManualTimers();
    let fired = 0;
    new ChainedTimer(timers, () => fired++, 3 * MAX_TIMER_DELAY_MS + 5, true);
    for (let i = 0; i < 3; i++) {
      timers.fireLast();
      expect(fired).toBe(0);
    }
    timers.fireLast();
    expect(fired).toBe(1);
    expect(timers.armed).toEqual([MAX_TIMER_DELAY_MS, MAX_TIMER_DELAY_MS, MAX_TIMER_DELAY_MS, 5]);
  });

  it('arms one platform timer for 2^31 - 1 ms and two for 2^31 ms', () => {
    const short = new ManualTimers();
    new ChainedTimer(short, () => undefined, MAX_TIMER_DELAY_MS, true);
    expect(short.armed).toEqual([MAX_TIMER_DELAY_MS]);
    const long = new ManualTimers();
    new ChainedTimer(long, () => undefined, 2 ** 31, true);
    long.fireLast();
    expect(long.armed).toEqual([MAX_TIMER_DELAY_MS, 1]);
  });

  it('cancels the link of the chain that is armed, and a cancelled chain never fires', () => {
    const timers = new ManualTimers();
    let fired = 0;
    const timer = new ChainedTimer(timers, () => fired++, 2 * MAX_TIMER_DELAY_MS, true);
    timers.fireLast();
    timer.cancel();
    timer.cancel();
    expect(timers.cleared).toEqual([2]);
    timers.fireLast();
    expect(fired).toBe(0);
  });

  it('never fires an infinite delay, and fires a negative or NaN one at once', () => {
    const timers = new ManualTimers();
    let fired = 0;
    new ChainedTimer(timers, () => fired++, Infinity, true);
    for (let i = 0; i < 5; i++) timers.fireLast();
    expect(fired).toBe(0);
    expect(timers.armed.every((ms) => ms === MAX_TIMER_DELAY_MS)).toBe(true);
    const now = new ManualTimers();
    new ChainedTimer(now, () => fired++, -5, true);
    new ChainedTimer(now, () => fired++, NaN, true);
    expect(now.armed).toEqual([0, 0]);
  });

  it('systemClock never hands setTimeout a delay it would overflow', () => {
    const setTimeout = vi.spyOn(globalThis, 'setTimeout');
    const long = systemClock.setTimer(() => undefined, 2 ** 31);
    const infinite = systemClock.setTimer(() => undefined, Infinity);
    const short = systemClock.setTimer(() => undefined, 10);
    long.cancel();
    infinite.cancel();
    short.cancel();
    expect(setTimeout.mock.calls.map((call) => call[1])).toEqual([
      MAX_TIMER_DELAY_MS,
      MAX_TIMER_DELAY_MS,
      10,
    ]);
  });
});
