/**
 * The public types of `@batchflight/scheduler`: what a schedule is, what is
 * stored of it, the events the scheduler publishes and its stats.
 */
import type { Clock, GracefulCloseOptions } from 'batchflight';
import type { JobStore } from 'batchflight/jobs';
import type { ScheduleStore } from './stores/store.js';

export type {
  Backfill,
  EveryOptions,
  ScheduleDefinition,
  ScheduleInfo,
  ScheduleSpec,
} from './definitions.js';
import type { EveryOptions, ScheduleInfo } from './definitions.js';

/** Options of {@link scheduler}. */
export interface SchedulerOptions {
  /** The job store every slot is enqueued into (its idempotency ledger makes a slot one job). */
  readonly store: JobStore;
  /** Where schedules and their cursors live (the same database as `store`). */
  readonly schedules: ScheduleStore;
  /** Default `systemClock`; give it the job store's clock. */
  readonly clock?: Clock;
  /** Default `'scheduler'`. */
  readonly name?: string;
  /**
   * How late a slot may be fired and still count as on time, ms; a later one
   * is missed and goes by the backfill policy. Default 60 000.
   */
  readonly graceMs?: number;
  /** How often the store is read for schedules other processes added or resumed, ms. Default 30 000. */
  readonly pollMs?: number;
  /**
   * False: no timers; slots fire only when `tick()` is called (a process
   * that only manages schedules, or a test driving ticks). Default true.
   */
  readonly start?: boolean;
}

/** Payload of `batchflight:scheduler:fired`: a slot enqueued by this process. */
export interface ScheduleFiredEvent {
  readonly scheduler: string;
  readonly schedule: string;
  /** The slot's UTC instant, epoch ms. */
  readonly slot: number;
  readonly jobId: string;
  /** False when another process had enqueued the slot already (the ledger answered). */
  readonly created: boolean;
  /** True when the slot was missed and fired by `catchUp`. */
  readonly backfilled: boolean;
}

/** Payload of `batchflight:scheduler:skipped`: missed slots passed over by the backfill policy. */
export interface ScheduleSkippedEvent {
  readonly scheduler: string;
  readonly schedule: string;
  /** Slots after this instant … */
  readonly after: number;
  /** … up to and including this one were passed over. */
  readonly through: number;
}

/** Payload of `batchflight:scheduler:state`: a schedule defined, paused, resumed or removed. */
export interface ScheduleStateEvent {
  readonly scheduler: string;
  readonly schedule: string;
  readonly change: 'defined' | 'paused' | 'resumed' | 'removed';
}

/** Payload of `batchflight:scheduler:error`: a tick failed (retried at the next poll). */
export interface SchedulerErrorEvent {
  readonly scheduler: string;
  readonly schedule: string | undefined;
  readonly error: unknown;
}

/** Counters of one scheduler since it started. */
export interface SchedulerStats {
  /** Slots this process enqueued and created a job for. */
  readonly fired: number;
  /** Of those, slots fired late by `catchUp`. */
  readonly backfilled: number;
  /** Slots this process tried to fire that another process had enqueued already. */
  readonly duplicates: number;
  /** Times missed slots were passed over. */
  readonly skips: number;
  readonly errors: number;
  readonly ticks: number;
  /** Schedules seen at the last tick. */
  readonly schedules: number;
}

/** A running scheduler; see {@link scheduler}. */
export interface Scheduler extends AsyncDisposable {
  readonly name: string;
  /** Defines (or redefines) a schedule; keeps its cursor and pause state when it exists. */
  every(
    name: string,
    when: string | { readonly everyMs: number },
    options: EveryOptions,
  ): Promise<ScheduleInfo>;
  /** Every stored schedule, by name. */
  list(): Promise<ScheduleInfo[]>;
  /** Stops firing `name` (fleet-wide). False when there is no such schedule. */
  pause(name: string): Promise<boolean>;
  /** Fires `name` again from the next slot (slots of the pause are not backfilled). */
  resume(name: string): Promise<boolean>;
  /** Deletes `name` (fleet-wide); jobs already enqueued stay. */
  remove(name: string): Promise<boolean>;
  /** Runs one tick now (fires due slots); resolves when it is done. */
  tick(): Promise<void>;
  stats(): SchedulerStats;
  /** Stops firing and waits for a running tick; the stores are the caller's to close. */
  close(options?: GracefulCloseOptions): Promise<void>;
}
