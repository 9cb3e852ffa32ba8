/**
 * Typed hooks: `onX(listener): Subscription`, one payload object per event.
 */

/** What a hook returns: call `dispose()` (or use `using`) to stop listening. */
export interface Subscription {
  dispose(): void;
  [Symbol.dispose](): void;
}

/** A listener of events of type `T`. */
export type Listener<T> = (event: T) => void;

/**
 * A set of listeners for one kind of event.
 *
 * A listener that throws never breaks the primitive that emits: the error is
 * reported as a process warning and the other listeners still run.
 */
export class Listeners<T> {
  #listeners: Listener<T>[] = [];

  /** True when at least one listener is registered; check before building a payload. */
  get active(): boolean {
    return this.#listeners.length > 0;
  }

  /** Adds a listener; the returned subscription removes it. */
  add(listener: Listener<T>): Subscription {
    if (typeof listener !== 'function') {
      throw new TypeError(`A listener must be a function, got ${typeof listener}.`);
    }
    // Copy-on-write so an emit in progress is never disturbed by (un)subscription.
    this.#listeners = [...this.#listeners, listener];
    let disposed = false;
    const dispose = (): void => {
      if (disposed) return;
      disposed = true;
      const index = this.#listeners.indexOf(listener);
      if (index !== -1) this.#listeners = this.#listeners.filter((_, i) => i !== index);
    };
    return { dispose, [Symbol.dispose]: dispose };
  }

  /** Calls every listener with `event`. */
  emit(event: T): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        process.emitWarning(
          error instanceof Error ? error : new Error(String(error)),
          'BatchflightListenerWarning',
        );
      }
    }
  }

  /** Removes every listener. */
  clear(): void {
    this.#listeners = [];
  }
}
