/**
 * The local side of `FlightStore#watch`: the listeners of each key, as every
 * store keeps them (the memory store, and the Redis store behind its one
 * pub/sub connection). Published in `batchflight/kit` for the stores of the
 * adapter packages.
 */
import type { FlightEvent, FlightWatch } from './flight-store.js';

/** A listener of {@link FlightWatchers}. */
export type FlightListener = (event: FlightEvent) => void;

/** The listeners of each flight key; see the module comment. */
export class FlightWatchers {
  readonly #byKey = new Map<string, Set<FlightListener>>();

  /** Registers `listener` for `key`; the returned watch removes it (idempotent). */
  add(key: string, listener: FlightListener): FlightWatch {
    let set = this.#byKey.get(key);
    if (set === undefined) {
      set = new Set();
      this.#byKey.set(key, set);
    }
    const own = set;
    own.add(listener);
    return {
      dispose: () => {
        own.delete(listener);
        if (own.size === 0 && this.#byKey.get(key) === own) this.#byKey.delete(key);
      },
    };
  }

  /**
   * The listeners of `key` right now, as a copy (a listener may dispose its
   * watch while the others are told), and a check that one is still
   * registered when the event is delivered later; undefined when none.
   */
  listeners(
    key: string,
  ): { list: FlightListener[]; live: (l: FlightListener) => boolean } | undefined {
    const set = this.#byKey.get(key);
    if (set === undefined) return undefined;
    return { list: [...set], live: (l) => set.has(l) };
  }

  /** Tells every listener of `key` of `event`, now. */
  notify(key: string, event: FlightEvent): void {
    const set = this.#byKey.get(key);
    if (set !== undefined) for (const listener of [...set]) listener(event);
  }

  /** Tells every listener of every key of `event` (a `resync`). */
  broadcast(event: FlightEvent): void {
    for (const set of [...this.#byKey.values()]) for (const listener of [...set]) listener(event);
  }

  /** Forgets every listener. */
  clear(): void {
    this.#byKey.clear();
  }
}
