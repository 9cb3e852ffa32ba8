/** What a schedule is: its slots, its job and its backfill policy (a leaf: stores and the scheduler share it). */

/** When a schedule fires: a cron pattern in a timezone, or a fixed interval. */
export type ScheduleSpec =
  | { readonly cron: string; readonly timezone?: string; readonly everyMs?: undefined }
  | { readonly everyMs: number; readonly cron?: undefined; readonly timezone?: undefined };

/**
 * What happens to slots missed while no scheduler ran (or ran too late to
 * fire them within `graceMs`): `'skip'` fires only the next future slot;
 * `{ catchUp: N }` enqueues at most the N most recent missed slots (oldest
 * first) and passes over the older ones.
 */
export type Backfill = 'skip' | { readonly catchUp: number };

/** Options of {@link Scheduler.every}. */
export interface EveryOptions {
  /** The queue the slot's job is enqueued on. */
  readonly queue: string;
  /** The job name (the handler). Default: the schedule name. */
  readonly jobName?: string;
  /** The job's payload, JSON; the same for every slot. Default null. */
  readonly payload?: unknown;
  /** IANA timezone of a cron pattern (`'Europe/Berlin'`). Default UTC. Not with `everyMs`. */
  readonly timezone?: string;
  /** Default `'skip'`. */
  readonly backfill?: Backfill;
}

/** A schedule definition as stored (JSON). */
export interface ScheduleDefinition {
  readonly spec: ScheduleSpec;
  readonly queue: string;
  readonly jobName: string;
  readonly payload: unknown;
  readonly backfill: Backfill;
}

/** A schedule with its state, as `list()` returns it. */
export interface ScheduleInfo extends ScheduleDefinition {
  readonly name: string;
  readonly paused: boolean;
  /** Every slot at or before this instant (epoch ms) was fired or passed over. */
  readonly cursor: number;
  /** The UTC instant (epoch ms) of the last slot this fleet fired, or null. */
  readonly lastFiredSlot: number | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}
