/**
 * Where a group keeps its flights: one table for calls without a scope and
 * one per scope (two scopes never share a flight), and the list of flights
 * still running, forgotten ones included, which a forced close walks.
 *
 * Tables hold only running flights. Removal is identity-checked: a flight
 * only ever removes itself, so after `forget(key)` a new flight can start
 * and the old one settling never deletes it (golang/go#31420). A scope's
 * table goes when its last flight does.
 */
import type { Flight, MapKey, Table } from './flight.js';

/** The tables of one group; see the module comment. */
export class FlightTables<V> {
  /** The table of calls without a scope (the hot path reads it directly). */
  readonly root: Table<V> = new Map();
  readonly #scoped = new Map<string, Table<V>>();
  /** Head of the list of running flights. */
  #firstActive: Flight<V> | undefined = undefined;

  /** The table of `scope`, made on first use. */
  table(scope: string | undefined): Table<V> {
    if (scope === undefined) return this.root;
    let table = this.#scoped.get(scope);
    if (table === undefined) {
      table = new Map();
      this.#scoped.set(scope, table);
    }
    return table;
  }

  /** The running flight of `key` in `scope`, if any. */
  lookup(key: MapKey, scope: string | undefined): Flight<V> | undefined {
    return (scope === undefined ? this.root : this.#scoped.get(scope))?.get(key);
  }

  /** Detaches the flight of `key` in `scope` (its table entry only); whether there was one. */
  forget(key: string, scope: string | undefined): boolean {
    const table = scope === undefined ? this.root : this.#scoped.get(scope);
    if (table === undefined || !(table.delete(key) || table.delete(numberKey(key)))) return false;
    if (scope !== undefined && table.size === 0) this.#scoped.delete(scope);
    return true;
  }

  /** Detaches every flight. */
  forgetAll(): void {
    this.root.clear();
    this.#scoped.clear();
  }

  /** Removes `flight` from its table if it is still the one there (identity-checked). */
  detach(flight: Flight<V>): void {
    const table = flight.table;
    if (table.get(flight.mapKey) !== flight) return;
    table.delete(flight.mapKey);
    if (
      flight.scope !== undefined &&
      table.size === 0 &&
      this.#scoped.get(flight.scope) === table
    ) {
      this.#scoped.delete(flight.scope);
    }
  }

  /** Puts a flight that starts at the head of the running list. */
  link(flight: Flight<V>): void {
    if (this.#firstActive !== undefined) {
      flight.nextActive = this.#firstActive;
      this.#firstActive.previousActive = flight;
    }
    this.#firstActive = flight;
  }

  /** Takes a settled flight out of the running list. */
  unlink(flight: Flight<V>): void {
    const { previousActive, nextActive } = flight;
    if (previousActive === undefined) this.#firstActive = nextActive;
    else previousActive.nextActive = nextActive;
    if (nextActive !== undefined) nextActive.previousActive = previousActive;
    flight.previousActive = undefined;
    flight.nextActive = undefined;
  }

  /** Calls `each` for every running flight; `each` may settle (unlink) the flight it is given. */
  forEachRunning(each: (flight: Flight<V>) => void): void {
    for (let flight = this.#firstActive; flight !== undefined;) {
      const next = flight.nextActive;
      each(flight);
      flight = next;
    }
  }
}

/** The number a key such as `n42` stands for (see {@link MapKey}), or the key itself. */
function numberKey(key: string): MapKey {
  if (key.charCodeAt(0) !== 0x6e /* n */) return key;
  const n = Number(key.slice(1));
  return `n${String(n)}` === key ? n : key;
}
