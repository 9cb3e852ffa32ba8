/**
 * The scheduler: reads the schedules from its `ScheduleStore`, and for each
 * slot that is due enqueues one job into the job store with the idempotency
 * key `schedule:<name>@<slot ISO instant>`, then moves the schedule's cursor
 * past the slot.
 *
 * Exactly once per slot, across processes, restarts and deploys, rests on
 * the job store's idempotency ledger: two processes firing one slot enqueue
 * the same key and the ledger makes it one job. The order matters: enqueue
 * first, cursor second. A crash between the two re-fires the slot after the
 * restart, and the ledger answers with the first job; the other order would
 * lose the slot. The cursor only spares the work of asking again, and bounds
 * backfill.
 *
 * Every schedule in the store is fired by every scheduler on it (not only
 * those the process defined), so a schedule added or resumed through the API
 * of one process fires on the fleet; `pollMs` bounds how long that takes.
 */
import {
  ClosedError,
  eventChannel,
  systemClock,
  type Clock,
  type GracefulCloseOptions,
  type Timer,
} from 'batchflight';
import { forceCloseWhen, integerOption, knownOptions, nameOption } from 'batchflight/kit';
import { JobConflictError, type EnqueueSpec } from 'batchflight/jobs';
import { definitionOf, scheduleName } from './options.js';
import { slotsOf } from './slots.js';
import type { ScheduleStore } from './stores/store.js';
import type {
  EveryOptions,
  ScheduleFiredEvent,
  ScheduleInfo,
  ScheduleSkippedEvent,
  ScheduleStateEvent,
  Scheduler,
  SchedulerErrorEvent,
  SchedulerOptions,
  SchedulerStats,
} from './types.js';
import type { JobStore } from 'batchflight/jobs';

/**
 * The diagnostics channels of every scheduler (`batchflight:scheduler:<event>`),
 * published only when someone subscribes: `fired` (a slot enqueued,
 * `backfilled` when late by `catchUp`), `skipped` (missed slots passed over),
 * `state` (defined, paused, resumed, removed) and `error`.
 *
 * @example
 * ```ts
 * diagnosticsChannel.subscribe(schedulerChannels.fired.name, (e) => console.log(e));
 * ```
 */
export const schedulerChannels = {
  fired: eventChannel<ScheduleFiredEvent>('scheduler', 'fired'),
  skipped: eventChannel<ScheduleSkippedEvent>('scheduler', 'skipped'),
  state: eventChannel<ScheduleStateEvent>('scheduler', 'state'),
  error: eventChannel<SchedulerErrorEvent>('scheduler', 'error'),
} as const;

const OPTIONS = ['store', 'schedules', 'clock', 'name', 'graceMs', 'pollMs', 'start'];
const KEY_PREFIX = 'schedule:';

/** The idempotency key of a slot: the schedule's name and the slot's UTC instant. */
export function slotKey(schedule: string, slotMs: number): string {
  return `${KEY_PREFIX}${schedule}@${new Date(slotMs).toISOString()}`;
}

/**
 * The schedule and slot a job was enqueued for, read from its idempotency
 * key; undefined for a job no scheduler enqueued.
 *
 * @example
 * ```ts
 * const slot = scheduledSlot(ctx.job); // { schedule: 'nightly', slotMs: 1774746000000 }
 * ```
 */
export function scheduledSlot(job: {
  readonly idempotencyKey: string | null;
}): { readonly schedule: string; readonly slotMs: number } | undefined {
  const key = job.idempotencyKey;
  if (key?.startsWith(KEY_PREFIX) !== true) return undefined;
  const at = key.lastIndexOf('@');
  const slotMs = Date.parse(key.slice(at + 1));
  if (at < 0 || Number.isNaN(slotMs)) return undefined;
  return { schedule: key.slice(KEY_PREFIX.length, at), slotMs };
}

class SchedulerImpl implements Scheduler {
  readonly name: string;
  readonly #store: JobStore;
  readonly #schedules: ScheduleStore;
  readonly #clock: Clock;
  readonly #graceMs: number;
  readonly #pollMs: number;
  readonly #start: boolean;
  readonly #ready: Promise<void>;
  #timer: Timer | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #closing: Promise<void> | undefined;
  #stats = { fired: 0, backfilled: 0, duplicates: 0, skips: 0, errors: 0, ticks: 0, schedules: 0 };

  constructor(options: SchedulerOptions) {
    const where = 'scheduler()';
    if (typeof options !== 'object' || (options as unknown) === null) {
      throw new TypeError(`${where}: expected an options object { store, schedules, … }.`);
    }
    knownOptions(where, options, OPTIONS);
    this.name = nameOption(where, options.name, 'scheduler');
    const store: unknown = options.store;
    if (typeof (store as JobStore | undefined)?.enqueue !== 'function') {
      throw new TypeError(`${where}: option store must be a JobStore (with enqueue()).`);
    }
    const schedules: unknown = options.schedules;
    if (typeof (schedules as ScheduleStore | undefined)?.advance !== 'function') {
      throw new TypeError(
        `${where}: option schedules must be a ScheduleStore (MemoryScheduleStore, SqliteScheduleStore, PostgresScheduleStore).`,
      );
    }
    this.#store = options.store;
    this.#schedules = options.schedules;
    this.#clock = options.clock ?? systemClock;
    this.#graceMs = integerOption(where, 'graceMs', options.graceMs ?? 60_000, { min: 0 });
    this.#pollMs = integerOption(where, 'pollMs', options.pollMs ?? 30_000);
    this.#start = options.start ?? true;
    this.#ready = this.#schedules.init();
    // A failed init rejects every call; the tick reports it on the error channel.
    this.#ready.catch(() => undefined);
    if (this.#start) this.#wake();
  }

  async every(
    name: string,
    when: string | { readonly everyMs: number },
    options: EveryOptions,
  ): Promise<ScheduleInfo> {
    const checked = definitionOf(name, when, options);
    await this.#open();
    const info = await this.#schedules.define(checked.name, checked.definition, this.#clock.now());
    this.#state(checked.name, 'defined');
    this.#wake();
    return info;
  }

  async list(): Promise<ScheduleInfo[]> {
    await this.#open();
    return this.#schedules.list();
  }

  pause(name: string): Promise<boolean> {
    return this.#setPaused(name, true);
  }

  resume(name: string): Promise<boolean> {
    return this.#setPaused(name, false);
  }

  async remove(name: string): Promise<boolean> {
    const checked = scheduleName('scheduler.remove()', name);
    await this.#open();
    const removed = await this.#schedules.remove(checked);
    if (removed) this.#state(checked, 'removed');
    return removed;
  }

  async tick(): Promise<void> {
    await this.#open();
    await this.#runTick();
  }

  stats(): SchedulerStats {
    return { ...this.#stats };
  }

  close(options?: GracefulCloseOptions): Promise<void> {
    if (this.#closing) return this.#closing;
    let forced: (() => void) | undefined;
    const force = new Promise<void>((resolve) => (forced = resolve));
    const disarm = forceCloseWhen(`scheduler(${this.name}).close()`, options, this.#clock, () => {
      forced?.();
    });
    this.#timer?.cancel();
    this.#timer = undefined;
    // A forced close stops waiting for the running tick (its enqueue is idempotent anyway).
    this.#closing = Promise.race([
      (this.#running ?? Promise.resolve()).catch(() => undefined),
      force,
    ])
      .then(() => undefined)
      .finally(disarm);
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #open(): Promise<void> {
    if (this.#closing) throw new ClosedError(`scheduler(${this.name}) is closed.`);
    await this.#ready;
  }

  async #setPaused(name: string, paused: boolean): Promise<boolean> {
    const checked = scheduleName(`scheduler.${paused ? 'pause' : 'resume'}()`, name);
    await this.#open();
    const changed = await this.#schedules.setPaused(checked, paused, this.#clock.now());
    if (changed) {
      this.#state(checked, paused ? 'paused' : 'resumed');
      this.#wake();
    }
    return changed;
  }

  #state(schedule: string, change: ScheduleStateEvent['change']): void {
    if (schedulerChannels.state.hasSubscribers) {
      schedulerChannels.state.publish({ scheduler: this.name, schedule, change });
    }
  }

  #error(schedule: string | undefined, error: unknown): void {
    this.#stats.errors++;
    if (schedulerChannels.error.hasSubscribers) {
      schedulerChannels.error.publish({ scheduler: this.name, schedule, error });
    }
  }

  /** Runs a tick soon (after the current one when one is running), then re-arms the timer. */
  #wake(): void {
    if (!this.#start || this.#closing) return;
    void this.#ready.then(
      () => this.#runTick(),
      (error: unknown) => {
        this.#error(undefined, error);
      },
    );
  }

  /** One tick at a time: a tick asked for while one runs runs once more after it. */
  #runTick(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    // A function, not the field: the compiler would narrow #again to false across the await.
    const again = (): boolean => this.#again && !this.#closing;
    const run = async (): Promise<void> => {
      do {
        this.#again = false;
        await this.#tickOnce();
      } while (again());
    };
    this.#running = run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #tickOnce(): Promise<void> {
    this.#stats.ticks++;
    let next = Infinity;
    try {
      const now = this.#clock.now();
      const rows = await this.#schedules.list();
      this.#stats.schedules = rows.length;
      for (const row of rows) {
        if (this.#closing) return;
        if (row.paused) continue;
        try {
          const at = await this.#fireDue(row, now);
          if (at !== undefined) next = Math.min(next, at);
        } catch (error) {
          this.#error(row.name, error);
        }
      }
    } catch (error) {
      this.#error(undefined, error);
    }
    this.#arm(next);
  }

  #arm(nextSlot: number): void {
    if (!this.#start || this.#closing) return;
    this.#timer?.cancel();
    const delay = Math.min(Math.max(0, nextSlot - this.#clock.now()), this.#pollMs);
    // Not unref'd: like a worker waiting for work, a running scheduler keeps its process alive.
    this.#timer = this.#clock.setTimer(
      () => {
        this.#timer = undefined;
        this.#wake();
      },
      delay,
      { unref: false },
    );
  }

  /**
   * Fires the due slots of one schedule by its backfill policy and returns
   * its next slot. Due slots are those after the cursor and at or before
   * `now`; the latest is on time when at most `graceMs` late, every other
   * one is missed.
   */
  async #fireDue(row: ScheduleInfo, now: number): Promise<number | undefined> {
    const slots = slotsOf(row.spec);
    const catchUp = row.backfill === 'skip' ? 0 : row.backfill.catchUp;
    const due = slots.latest(catchUp + 1, now, row.cursor);
    const latest = due[0];
    if (latest === undefined) return slots.next(Math.max(row.cursor, now));
    const onTime = now - latest <= this.#graceMs;
    const missed = onTime ? due.slice(1) : due;
    const fire = (onTime ? [latest] : []).concat(missed.slice(0, catchUp)).reverse();
    if (fire.length > 0) {
      const specs: EnqueueSpec[] = fire.map((slot) => ({
        queue: row.queue,
        name: row.jobName,
        payload: row.payload,
        idempotencyKey: slotKey(row.name, slot),
        runAt: slot,
      }));
      await this.#enqueue(row, specs, fire, onTime ? latest : undefined);
    }
    const oldestFired = fire[0] ?? Infinity;
    // Missed slots older than the ones fired (or all of them): passed over.
    const skippedThrough = slots.latest(1, Math.min(oldestFired - 1, now), row.cursor)[0];
    if (skippedThrough !== undefined && skippedThrough < oldestFired) {
      this.#stats.skips++;
      if (schedulerChannels.skipped.hasSubscribers) {
        schedulerChannels.skipped.publish({
          scheduler: this.name,
          schedule: row.name,
          after: row.cursor,
          through: skippedThrough,
        });
      }
    }
    await this.#schedules.advance(row.name, latest, fire.at(-1) ?? null, now);
    return slots.next(Math.max(latest, now));
  }

  async #enqueue(
    row: ScheduleInfo,
    specs: EnqueueSpec[],
    slots: number[],
    onTime: number | undefined,
  ): Promise<void> {
    let results;
    try {
      results = await this.#store.enqueue(specs);
    } catch (error) {
      // The same slot key with another name or payload: the schedule was redefined while
      // another process (an older deploy) fired the slot with its definition. The slot has
      // its job; firing it again would be the duplicate the ledger is there to prevent.
      if (!JobConflictError.is(error)) throw error;
      this.#stats.duplicates += specs.length;
      return;
    }
    results.forEach((result, i) => {
      const slot = slots[i] ?? 0;
      const backfilled = slot !== onTime;
      if (result.created) {
        this.#stats.fired++;
        if (backfilled) this.#stats.backfilled++;
      } else {
        this.#stats.duplicates++;
      }
      if (schedulerChannels.fired.hasSubscribers) {
        schedulerChannels.fired.publish({
          scheduler: this.name,
          schedule: row.name,
          slot,
          jobId: result.id,
          created: result.created,
          backfilled,
        });
      }
    });
  }
}

/**
 * A scheduler of recurring jobs over a job store: `every(name, cron | { everyMs }, { queue, … })`
 * defines a schedule in the `schedules` store, and each of its slots is
 * enqueued once across every scheduler on that store.
 *
 * @example
 * ```ts
 * const jobs = new SqliteJobStore({ path: 'jobs.db' });
 * await using s = scheduler({ store: jobs, schedules: new SqliteScheduleStore({ db: jobs.db }) });
 * await s.every('nightly-report', '0 3 * * *', { queue: 'reports', timezone: 'Europe/Berlin' });
 * ```
 */
export function scheduler(options: SchedulerOptions): Scheduler {
  return new SchedulerImpl(options);
}
