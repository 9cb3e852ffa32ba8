import diagnosticsChannel from 'node:diagnostics_channel';
import { InvalidOptionError } from 'batchflight';
import { MemoryJobStore } from 'batchflight/jobs';
import { TestClock } from '@batchflight/testing';
import { describe, expect, it } from 'vitest';
import {
  MemoryScheduleStore,
  scheduledSlot,
  scheduler,
  schedulerChannels,
  type ScheduleSkippedEvent,
} from './index.js';

const HOUR = 3_600_000;
const MIN = 60_000;

async function setup(startIso: string) {
  const clock = new TestClock(Date.parse(startIso));
  const jobs = new MemoryJobStore({ clock });
  await jobs.init();
  const schedules = new MemoryScheduleStore();
  const make = (options: { graceMs?: number } = {}) =>
    scheduler({ store: jobs, schedules, clock, start: false, ...options });
  const slots = async (queue: string) =>
    (await jobs.query({ queue, limit: 10_000 })).map((j) => new Date(j.runAt).toISOString());
  return { clock, jobs, schedules, make, slots };
}

/** Moves the clock in steps and ticks after each, as a running scheduler would. */
async function run(
  clock: TestClock,
  s: { tick(): Promise<void> },
  totalMs: number,
  stepMs: number,
): Promise<void> {
  for (let t = 0; t < totalMs; t += stepMs) {
    await clock.advance(stepMs);
    await s.tick();
  }
}

describe('scheduler across DST (Europe/Berlin, croner semantics)', () => {
  it('spring forward: a fixed 02:30 fires at 03:00 local; an hourly :30 skips the missing hour', async () => {
    const { clock, make, slots } = await setup('2026-03-28T12:00:00Z');
    const s = make();
    await s.every('fixed', '30 2 * * *', { queue: 'fixed', timezone: 'Europe/Berlin' });
    await s.every('hourly', '30 * * * *', { queue: 'hourly', timezone: 'Europe/Berlin' });
    await run(clock, s, 2 * 24 * HOUR, 10 * MIN);
    // 29 March: 02:30 does not exist; croner runs it once the clock jumped (03:00 CEST = 01:00Z).
    expect(await slots('fixed')).toEqual(['2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']);
    const hourly = await slots('hourly');
    // 01:30 CET = 00:30Z, then 03:30 CEST = 01:30Z: no slot for local 02:30.
    expect(hourly.filter((t) => t.startsWith('2026-03-29T0'))).toEqual([
      '2026-03-29T00:30:00.000Z',
      '2026-03-29T01:30:00.000Z',
      '2026-03-29T02:30:00.000Z',
      '2026-03-29T03:30:00.000Z',
      '2026-03-29T04:30:00.000Z',
      '2026-03-29T05:30:00.000Z',
      '2026-03-29T06:30:00.000Z',
      '2026-03-29T07:30:00.000Z',
      '2026-03-29T08:30:00.000Z',
      '2026-03-29T09:30:00.000Z',
    ]);
    expect(new Set(hourly).size).toBe(hourly.length);
    await s.close();
  });

  it('fall back: a fixed 02:30 fires once (first occurrence); an hourly :30 fires on both 02:30s', async () => {
    const { clock, make, slots, jobs } = await setup('2026-10-24T12:00:00Z');
    const s = make();
    await s.every('fixed', '30 2 * * *', { queue: 'fixed', timezone: 'Europe/Berlin' });
    await s.every('hourly', '30 * * * *', { queue: 'hourly', timezone: 'Europe/Berlin' });
    await run(clock, s, 2 * 24 * HOUR, 10 * MIN);
    expect(await slots('fixed')).toEqual(['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
    const hourly = await slots('hourly');
    // 02:30 CEST = 00:30Z and 02:30 CET = 01:30Z: two instants, two slots, two keys.
    expect(hourly).toContain('2026-10-25T00:30:00.000Z');
    expect(hourly).toContain('2026-10-25T01:30:00.000Z');
    // The local day of 25 October (22:00Z to 23:00Z next day) has 25 hours, so 25 slots.
    const localDay = hourly.filter(
      (t) => t >= '2026-10-24T22:00:00.000Z' && t < '2026-10-25T23:00:00.000Z',
    );
    expect(localDay).toHaveLength(25);
    const [job] = await jobs.query({ queue: 'fixed', limit: 1 });
    expect(job && scheduledSlot(job)).toEqual({
      schedule: 'fixed',
      slotMs: Date.parse('2026-10-25T00:30:00Z'),
    });
    await s.close();
  });
});

describe('scheduler: one job per slot', () => {
  it('several schedulers on one store ticking at the same instants make one job per slot', async () => {
    const { clock, make, slots } = await setup('2026-01-01T00:00:30Z');
    const fleet = [make(), make(), make()];
    for (const s of fleet)
      await s.every('beat', { everyMs: MIN }, { queue: 'beat', payload: { a: 1 } });
    for (let i = 0; i < 10; i++) {
      await clock.advance(MIN);
      await Promise.all(fleet.map((s) => s.tick()));
    }
    const fired = await slots('beat');
    expect(fired).toHaveLength(10);
    expect(new Set(fired).size).toBe(10);
    const stats = fleet.map((s) => s.stats());
    expect(stats.reduce((n, st) => n + st.fired, 0)).toBe(10);
    await Promise.all(fleet.map((s) => s.close()));
  });
});

describe('scheduler: backfill after downtime', () => {
  it("'skip' fires none of the missed slots, then the next future one", async () => {
    const { clock, make, slots, schedules } = await setup('2026-01-01T00:10:00Z');
    const first = make();
    await first.every('hourly', '0 * * * *', { queue: 'q', backfill: 'skip' });
    await run(clock, first, 2 * HOUR, 10 * MIN);
    await first.close();
    expect(await slots('q')).toEqual(['2026-01-01T01:00:00.000Z', '2026-01-01T02:00:00.000Z']);
    const skipped: ScheduleSkippedEvent[] = [];
    const onSkip = (e: unknown): void => void skipped.push(e as ScheduleSkippedEvent);
    diagnosticsChannel.subscribe(schedulerChannels.skipped.name, onSkip);
    await clock.advance(5 * HOUR + 5 * MIN); // down from 02:10 to 07:15
    const second = make();
    await second.every('hourly', '0 * * * *', { queue: 'q', backfill: 'skip' });
    await second.tick();
    expect(await slots('q')).toHaveLength(2);
    expect(skipped).toEqual([
      expect.objectContaining({ schedule: 'hourly', through: Date.parse('2026-01-01T07:00:00Z') }),
    ]);
    await run(clock, second, HOUR, 15 * MIN);
    expect((await slots('q')).slice(2)).toEqual(['2026-01-01T08:00:00.000Z']);
    expect((await schedules.get('hourly'))?.lastFiredSlot).toBe(Date.parse('2026-01-01T08:00:00Z'));
    diagnosticsChannel.unsubscribe(schedulerChannels.skipped.name, onSkip);
    await second.close();
  });

  it('{ catchUp: 2 } enqueues the 2 most recent missed slots, oldest first', async () => {
    const { clock, make, slots } = await setup('2026-01-01T00:10:00Z');
    const first = make();
    await first.every('hourly', '0 * * * *', { queue: 'q', backfill: { catchUp: 2 } });
    await run(clock, first, HOUR, 10 * MIN);
    await first.close();
    await clock.advance(5 * HOUR + 5 * MIN); // 01:10 → 06:15: missed 02:00 … 06:00
    const second = make();
    await second.tick();
    expect(await slots('q')).toEqual([
      '2026-01-01T01:00:00.000Z',
      '2026-01-01T05:00:00.000Z',
      '2026-01-01T06:00:00.000Z',
    ]);
    expect(second.stats()).toMatchObject({ fired: 2, backfilled: 2, skips: 1 });
    // A restart right after does not fire them again.
    const third = make();
    await third.tick();
    expect(await slots('q')).toHaveLength(3);
    await second.close();
    await third.close();
  });

  it('a crash between enqueue and cursor re-fires the slot into the same job', async () => {
    const { clock, make, slots, schedules, jobs } = await setup('2026-01-01T00:00:30Z');
    const s = make();
    await s.every('beat', { everyMs: MIN }, { queue: 'q' });
    await clock.advance(MIN);
    await s.tick();
    // The cursor as a crash before `advance` would have left it.
    const info = await schedules.get('beat');
    expect(info?.cursor).toBe(Date.parse('2026-01-01T00:01:00Z'));
    const fresh = new MemoryScheduleStore();
    await fresh.define('beat', { ...(info ?? ({} as never)) }, Date.parse('2026-01-01T00:00:30Z'));
    const again = scheduler({ store: jobs, schedules: fresh, clock, start: false });
    await again.tick();
    expect(await slots('q')).toEqual(['2026-01-01T00:01:00.000Z']);
    expect(again.stats()).toMatchObject({ fired: 0, duplicates: 1 });
    await s.close();
    await again.close();
  });
});

describe('scheduler: pause, resume, remove, list', () => {
  it('a paused schedule fires nothing; resumed, it fires from the next slot without backfill', async () => {
    const { clock, make, slots } = await setup('2026-01-01T00:00:30Z');
    const s = make();
    await s.every('beat', { everyMs: MIN }, { queue: 'q', backfill: { catchUp: 10 } });
    await run(clock, s, 2 * MIN, MIN);
    expect(await s.pause('beat')).toBe(true);
    await run(clock, s, 3 * MIN, MIN);
    expect(await slots('q')).toHaveLength(2);
    expect((await s.list()).map((i) => [i.name, i.paused])).toEqual([['beat', true]]);
    expect(await s.resume('beat')).toBe(true);
    await run(clock, s, MIN, MIN);
    expect(await slots('q')).toEqual([
      '2026-01-01T00:01:00.000Z',
      '2026-01-01T00:02:00.000Z',
      '2026-01-01T00:06:00.000Z',
    ]);
    // Redefining keeps the pause state and the cursor.
    await s.pause('beat');
    const info = await s.every('beat', { everyMs: MIN }, { queue: 'q' });
    expect(info.paused).toBe(true);
    expect(await s.remove('beat')).toBe(true);
    expect(await s.remove('beat')).toBe(false);
    expect(await s.pause('nope')).toBe(false);
    expect(await s.list()).toEqual([]);
    await run(clock, s, 3 * MIN, MIN);
    expect(await slots('q')).toHaveLength(3);
    await s.close();
  });

  it('a started scheduler fires on its clock, and close() stops it', async () => {
    const { clock, jobs, schedules, slots } = await setup('2026-01-01T00:00:30Z');
    const s = scheduler({ store: jobs, schedules, clock, name: 'live' });
    await s.every('beat', { everyMs: MIN }, { queue: 'q' });
    for (let i = 0; i < 3; i++) {
      await clock.advance(MIN);
      await s.tick(); // waits for the tick the timer started
    }
    expect(await slots('q')).toHaveLength(3);
    await s.close();
    await s.close();
    await clock.advance(5 * MIN);
    expect(await slots('q')).toHaveLength(3);
    await expect(s.list()).rejects.toThrow(/closed/);
  });
});

describe('scheduler: option validation', () => {
  it('names the option, restates the contract and echoes the value', async () => {
    const { make, jobs, schedules } = await setup('2026-01-01T00:00:00Z');
    const s = make();
    const bad = (when: unknown, options: unknown) =>
      s.every('x', when as string, options as { queue: string });
    await expect(bad('0 3 * * *', { queue: '' })).rejects.toThrow(
      'scheduler.every("x"): option queue must be a non-empty string, got "".',
    );
    await expect(bad('61 * * * *', { queue: 'q' })).rejects.toThrow(
      /the cron pattern "61 \* \* \* \*" must be a valid croner pattern.*Invalid value for minute/,
    );
    await expect(bad('0 3 * * *', { queue: 'q', timezone: 'Mars/Olympus' })).rejects.toThrow(
      /in timezone "Mars\/Olympus"/,
    );
    await expect(bad({ everyMs: 0 }, { queue: 'q' })).rejects.toThrow(
      'option everyMs must be an integer >= 1, got 0.',
    );
    await expect(bad({ everyMs: 1000 }, { queue: 'q', timezone: 'UTC' })).rejects.toThrow(
      /option timezone must be absent with \{ everyMs \}/,
    );
    await expect(bad('* * * * *', { queue: 'q', backfill: { catchUp: 0 } })).rejects.toThrow(
      'option backfill.catchUp must be an integer >= 1, got 0.',
    );
    await expect(bad('* * * * *', { queue: 'q', backfill: 'all' })).rejects.toThrow(
      /option backfill must be 'skip' or \{ catchUp: N \}/,
    );
    await expect(bad('* * * * *', { queue: 'q', payload: 1n })).rejects.toThrow(
      /option payload must be a JSON value/,
    );
    await expect(bad('* * * * *', { queue: 'q', quue: 1 })).rejects.toThrow(
      /unknown option "quue"/,
    );
    await expect(bad(42, { queue: 'q' })).rejects.toBeInstanceOf(InvalidOptionError);
    expect(() => scheduler({ store: jobs, schedules, pollMs: 0 })).toThrow(
      'scheduler(): option pollMs must be an integer >= 1, got 0.',
    );
    expect(() => scheduler({ store: jobs, schedules, name: '' })).toThrow(/option name/);
    expect(() => scheduler({ store: jobs } as never)).toThrow(
      /option schedules must be a ScheduleStore/,
    );
    await s.close();
  });
});
