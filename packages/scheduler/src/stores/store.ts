/**
 * The `ScheduleStore` contract: schedule definitions, their pause state and
 * their cursor, in the same database as the job store. Every timestamp is
 * given by the caller (read from the scheduler's clock); a store never reads
 * the database's clock.
 *
 * The cursor is the one thing processes race on: `advance` moves it forward
 * only (`UPDATE … WHERE cursor < $to`), so whichever process gets there
 * first wins and the others are told so. Firing itself is made exactly once
 * by the job store's idempotency ledger, not by this store.
 */
import type { ScheduleDefinition, ScheduleInfo } from '../definitions.js';

/** The stored state of schedules. */
export interface ScheduleStore {
  /** Creates the tables (idempotent, safe from concurrent processes). */
  init(): Promise<void>;
  /**
   * Inserts `name` with `cursor = now`, or replaces its definition, keeping
   * its cursor, pause state, last fired slot and creation time.
   */
  define(name: string, definition: ScheduleDefinition, now: number): Promise<ScheduleInfo>;
  get(name: string): Promise<ScheduleInfo | undefined>;
  /** Every schedule, by name. */
  list(): Promise<ScheduleInfo[]>;
  /** Sets `paused`; on resume also moves the cursor to at least `now`. False when unknown. */
  setPaused(name: string, paused: boolean, now: number): Promise<boolean>;
  remove(name: string): Promise<boolean>;
  /**
   * Moves the cursor to `to` when it is below it (and records `firedSlot`
   * as the last fired slot when given). False when it was at or past `to`
   * already (another process got there first) or the schedule is gone.
   */
  advance(name: string, to: number, firedSlot: number | null, now: number): Promise<boolean>;
  /** Releases what the store opened itself (never the caller's database or pool). */
  close(): Promise<void>;
}

/** Schedules in memory: for tests and a single process with a `MemoryJobStore`. */
export class MemoryScheduleStore implements ScheduleStore {
  readonly #rows = new Map<string, ScheduleInfo>();

  init(): Promise<void> {
    return Promise.resolve();
  }

  define(name: string, definition: ScheduleDefinition, now: number): Promise<ScheduleInfo> {
    const old = this.#rows.get(name);
    const row: ScheduleInfo = old
      ? { ...old, ...definition, updatedAt: now }
      : {
          name,
          ...definition,
          paused: false,
          cursor: now,
          lastFiredSlot: null,
          createdAt: now,
          updatedAt: now,
        };
    this.#rows.set(name, row);
    return Promise.resolve(structuredClone(row));
  }

  get(name: string): Promise<ScheduleInfo | undefined> {
    const row = this.#rows.get(name);
    return Promise.resolve(row && structuredClone(row));
  }

  list(): Promise<ScheduleInfo[]> {
    const rows = [...this.#rows.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
    return Promise.resolve(rows.map((r) => structuredClone(r)));
  }

  setPaused(name: string, paused: boolean, now: number): Promise<boolean> {
    const row = this.#rows.get(name);
    if (!row) return Promise.resolve(false);
    const cursor = paused ? row.cursor : Math.max(row.cursor, now);
    this.#rows.set(name, { ...row, paused, cursor, updatedAt: now });
    return Promise.resolve(true);
  }

  remove(name: string): Promise<boolean> {
    return Promise.resolve(this.#rows.delete(name));
  }

  advance(name: string, to: number, firedSlot: number | null, now: number): Promise<boolean> {
    const row = this.#rows.get(name);
    if (!row || row.cursor >= to) return Promise.resolve(false);
    this.#rows.set(name, {
      ...row,
      cursor: to,
      lastFiredSlot: firedSlot ?? row.lastFiredSlot,
      updatedAt: now,
    });
    return Promise.resolve(true);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
