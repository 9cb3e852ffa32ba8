/**
 * One caller of a flight that can leave (it has a signal or a timeout). It
 * listens to its signal as an EventListener object, so no closure is made for
 * the listener, and it removes the listener and cancels its timer whichever
 * way it ends.
 */
import { type Clock, type Timer, TimeoutError } from '../core/index.js';
import type { Flight } from './flight.js';

/** Tells the group that a caller left its flight (the last one out aborts the execution). */
export type LeaveFlight<V> = (flight: Flight<V>, reason: unknown) => void;

export class Waiter<V> {
  readonly promise: Promise<V>;
  #resolve!: (value: V) => void;
  #reject!: (reason: unknown) => void;
  #done = false;
  #timer: Timer | undefined = undefined;

  constructor(
    private readonly leaveFlight: LeaveFlight<V>,
    private readonly flight: Flight<V>,
    private readonly signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    clock: Clock,
    label: string,
  ) {
    this.promise = new Promise<V>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    flight.promise.then(
      (value) => {
        if (this.#finish()) this.#resolve(value);
      },
      (error: unknown) => {
        if (this.#finish()) this.#reject(error);
      },
    );
    signal?.addEventListener('abort', this, { once: true });
    if (timeoutMs !== undefined) {
      this.#timer = clock.setTimer(() => {
        this.#leave(
          new TimeoutError(
            `${label}: waited ${String(timeoutMs)} ms for the flight of key ${JSON.stringify(flight.key)} without an outcome.`,
            timeoutMs,
          ),
        );
      }, timeoutMs);
    }
  }

  /** The abort listener (EventListener object protocol). */
  handleEvent(): void {
    this.#leave(this.signal?.reason);
  }

  #leave(reason: unknown): void {
    if (!this.#finish()) return;
    this.#reject(reason);
    this.leaveFlight(this.flight, reason);
  }

  /** Ends the wait once; false if it had already ended. */
  #finish(): boolean {
    if (this.#done) return false;
    this.#done = true;
    this.signal?.removeEventListener('abort', this);
    this.#timer?.cancel();
    return true;
  }
}
